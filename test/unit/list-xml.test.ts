import { describe, expect, it } from 'vitest';
import { decodeText, parseListObjectsV2 } from '../../src/s3/list-xml.js';

const page = (inner: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</ListBucketResult>`;
const obj = (key: string, extra = '') =>
  `<Contents><Key>${key}</Key><LastModified>2026-11-27T20:01:02.345Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>16</Size><StorageClass>STANDARD</StorageClass>${extra}</Contents>`;

describe('parseListObjectsV2', () => {
  it('reads a page: objects, folders, paging fields', () => {
    const out = parseListObjectsV2(
      page(
        `<Name>b</Name><Prefix>p/</Prefix><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated><Marker></Marker>` +
          `${obj('p/a', '<Owner><ID>o</ID><DisplayName>O</DisplayName></Owner><Type>Normal</Type>')}` +
          `<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes><KeyCount>2</KeyCount><NextContinuationToken>tok+/=</NextContinuationToken>`,
      ),
    );
    expect(out).toEqual({
      Name: 'b',
      Prefix: 'p/',
      MaxKeys: 1000,
      Delimiter: '/',
      IsTruncated: true,
      KeyCount: 2,
      NextContinuationToken: 'tok+/=',
      Contents: [
        {
          Key: 'p/a',
          LastModified: new Date('2026-11-27T20:01:02.345Z'),
          ETag: '"abc"',
          Size: 16,
          StorageClass: 'STANDARD',
          Owner: { ID: 'o', DisplayName: 'O' },
        },
      ],
      CommonPrefixes: [{ Prefix: 'p/d/' }],
    });
  });

  it('decodes entities and character references in keys (hard names)', () => {
    const keys = [
      ['a&amp;b&lt;c&gt;d&quot;e&apos;f', `a&b<c>d"e'f`],
      [']]&gt;x', ']]>x'],
      ['tab&#9;cr&#13;lf&#10;', 'tab\tcr\rlf\n'],
      ['&#x1F600;&#128512;', '😀😀'],
      ['über/日本語/ß', 'über/日本語/ß'],
      ['sp ace+plus%20pct', 'sp ace+plus%20pct'],
      ['&#x0001;', '\u0001'],
    ];
    const out = parseListObjectsV2(page(keys.map(([k]) => obj(k!)).join('')));
    expect(out?.Contents?.map((o) => o.Key)).toEqual(keys.map(([, k]) => k));
  });

  it('reads an empty page and empty elements', () => {
    expect(
      parseListObjectsV2(
        page('<Name>b</Name><Prefix></Prefix><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>'),
      ),
    ).toEqual({
      Name: 'b',
      Prefix: '',
      KeyCount: 0,
      IsTruncated: false,
    });
    expect(parseListObjectsV2(page('<Prefix/>'))).toEqual({ Prefix: '' });
    expect(parseListObjectsV2(page(obj('')))?.Contents?.[0]?.Key).toBe('');
  });

  it('leaves to the SDK what it does not know (undefined)', () => {
    for (const xml of [
      page(`${obj('a')}<EncodingType>url</EncodingType>`),
      page(obj('a', '<RestoreStatus><IsRestoreInProgress>true</IsRestoreInProgress></RestoreStatus>')),
      page(obj('<![CDATA[x]]>')),
      page(`<!-- c -->${obj('a')}`),
      page(obj('a&nbsp;b')),
      page(obj('a & b')),
      page(obj('&#xD800;')),
      page('<Contents><Key>a</Key><Size>-1</Size></Contents>'),
      page('<Contents><Key>a</Key><LastModified>yesterday</LastModified></Contents>'),
      page('<IsTruncated>yes</IsTruncated>'),
      page('<Contents><Size>1</Size></Contents>'),
      page('<Contents><Key>a</Key>'),
      '<Error><Code>InternalError</Code></Error>',
      '<!DOCTYPE x><ListBucketResult></ListBucketResult>',
      `${page('')}<ListBucketResult></ListBucketResult>`,
      '',
    ]) {
      expect(parseListObjectsV2(xml), xml).toBeUndefined();
    }
  });

  it('decodeText: plain text passes through; a bare & is refused', () => {
    expect(decodeText('plain')).toBe('plain');
    expect(() => decodeText('a&b')).toThrow();
  });
});
