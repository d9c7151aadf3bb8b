import { describe, expect, it } from 'vitest';
import { parseListObjectsV2 } from '../../src/s3/list-xml.js';

// list-xml.ts on documents written by hand: what it accepts it must read exactly (the SDK's
// output for the same page, test/s3/list-fast-parse.test.ts checks that against RGW); what it
// does not fully understand must come back undefined (the caller then lets the SDK parse it),
// never as a page with something missing.

const NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

const rgwPage = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="${NS}"><Name>bench</Name><Prefix>list/</Prefix><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated><Marker></Marker><Contents><Key>list/a&amp;b &lt;c&gt; &#x1F600;&#233;</Key><LastModified>2026-11-28T01:02:03.456Z</LastModified><ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>16384</Size><StorageClass>STANDARD</StorageClass><Owner><ID>ferry</ID><DisplayName>Ferry</DisplayName></Owner><Type>Normal</Type></Contents><Contents><Key>list/b</Key><LastModified>2026-11-28T01:02:04.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass><Owner><ID>ferry</ID><DisplayName>Ferry</DisplayName></Owner><Type>Normal</Type></Contents><CommonPrefixes><Prefix>list/dir/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>list/sp ace/</Prefix></CommonPrefixes><KeyCount>4</KeyCount><NextContinuationToken>1ABC/+=</NextContinuationToken></ListBucketResult>`;

describe('list-xml.ts: documents it reads', () => {
  it('an RGW page: every field, entities and character references decoded', () => {
    expect(parseListObjectsV2(rgwPage)).toEqual({
      Name: 'bench',
      Prefix: 'list/',
      MaxKeys: 1000,
      Delimiter: '/',
      IsTruncated: true,
      KeyCount: 4,
      NextContinuationToken: '1ABC/+=',
      Contents: [
        {
          Key: 'list/a&b <c> \u{1F600}é',
          LastModified: new Date('2026-11-28T01:02:03.456Z'),
          ETag: '"0cc175b9c0f1b6a831c399e269772661"',
          Size: 16384,
          StorageClass: 'STANDARD',
          Owner: { ID: 'ferry', DisplayName: 'Ferry' },
        },
        {
          Key: 'list/b',
          LastModified: new Date('2026-11-28T01:02:04.000Z'),
          ETag: '"x"',
          Size: 0,
          StorageClass: 'STANDARD',
          Owner: { ID: 'ferry', DisplayName: 'Ferry' },
        },
      ],
      CommonPrefixes: [{ Prefix: 'list/dir/' }, { Prefix: 'list/sp ace/' }],
    });
  });

  it('a BOM, whitespace between elements, attributes holding `>`, `<x/>`, `</x >`, checksums', () => {
    const xml = `\ufeff<?xml version="1.0"?>\n\n<ListBucketResult xmlns='${NS}' a="x>y/">
  <Name>b</Name >
  <Prefix/>
  <StartAfter>k&apos;</StartAfter>
  <IsTruncated>false</IsTruncated>
  <Contents>
    <Key a="1">k  two spaces </Key>
    <LastModified>2026-01-02T03:04:05+01:00</LastModified>
    <Size>42</Size>
    <ChecksumAlgorithm>CRC32</ChecksumAlgorithm>
    <ChecksumAlgorithm>SHA256</ChecksumAlgorithm>
    <ChecksumType>FULL_OBJECT</ChecksumType>
    <Owner/>
  </Contents>
  <ContinuationToken>t</ContinuationToken>
</ListBucketResult>
`;
    expect(parseListObjectsV2(xml)).toEqual({
      Name: 'b',
      Prefix: '',
      StartAfter: "k'",
      IsTruncated: false,
      ContinuationToken: 't',
      Contents: [
        {
          Key: 'k  two spaces ',
          LastModified: new Date('2026-01-02T03:04:05+01:00'),
          Size: 42,
          ChecksumAlgorithm: ['CRC32', 'SHA256'],
          ChecksumType: 'FULL_OBJECT',
          Owner: {},
        },
      ],
    });
  });

  it('an empty listing, written either way', () => {
    expect(parseListObjectsV2(`<ListBucketResult xmlns="${NS}"/>`)).toEqual({});
    expect(
      parseListObjectsV2(
        '<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>',
      ),
    ).toEqual({ KeyCount: 0, IsTruncated: false });
  });
});

describe('list-xml.ts: documents it leaves to the SDK (undefined)', () => {
  const page = (contents: string, after = '') =>
    `<?xml version="1.0"?><ListBucketResult><Name>b</Name><Contents>${contents}</Contents>${after}</ListBucketResult>`;
  const key = '<Key>k</Key>';
  const cases: [string, string][] = [
    ['empty document', ''],
    ['only a declaration', '<?xml version="1.0"?>'],
    ['another root', '<ListAllMyBucketsResult></ListAllMyBucketsResult>'],
    ['an end tag first', '</ListBucketResult>'],
    ['DOCTYPE', '<!DOCTYPE x><ListBucketResult></ListBucketResult>'],
    ['CDATA in a key', page('<Key><![CDATA[a]]></Key>')],
    ['a comment between elements', page(`${key}<!-- c -->`)],
    ['a processing instruction', page(`${key}<?pi x?>`)],
    ['an unknown entity', page('<Key>a&nbsp;b</Key>')],
    ['a bare &', page('<Key>a & b</Key>')],
    ['a surrogate character reference', page('<Key>&#xD800;</Key>')],
    ['`]]>` in text', page('<Key>a]]>b</Key>')],
    ['text in a structure', page(`x${key}`)],
    ['text in the root', page(key, 'stray')],
    ['an element in a leaf', page('<Key>a<b/>c</Key>')],
    ['a mismatched end tag', page('<Key>k</Kee>')],
    ['an unclosed leaf', '<ListBucketResult><Name>b'],
    ['an unclosed root', `<ListBucketResult><Contents>${key}</Contents>`],
    ['an unclosed start tag', '<ListBucketResult><Name'],
    ['an unclosed end tag', '<ListBucketResult><Name>b</Name'],
    ['two roots', '<ListBucketResult></ListBucketResult><ListBucketResult></ListBucketResult>'],
    ['text after the root', '<ListBucketResult></ListBucketResult>x'],
    ['text before the root', 'x<ListBucketResult></ListBucketResult>'],
    ['an empty tag name', '<ListBucketResult><>x</></ListBucketResult>'],
    [
      'RestoreStatus',
      page(`${key}<RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress></RestoreStatus>`),
    ],
    ['EncodingType', page(key, '<EncodingType>url</EncodingType>')],
    ['an unknown field of the owner', page(`${key}<Owner><Email>x</Email></Owner>`)],
    ['an unknown field of a common prefix', page(key, '<CommonPrefixes><Key>x</Key></CommonPrefixes>')],
    ['Contents without a Key', page('<Size>1</Size>')],
    ['an empty Contents', page('', '<Contents/>')],
    ['a bad date', page(`${key}<LastModified>yesterday</LastModified>`)],
    ['a date without its zone', page(`${key}<LastModified>2026-01-02T03:04:05</LastModified>`)],
    ['an impossible date', page(`${key}<LastModified>2026-13-45T03:04:05Z</LastModified>`)],
    ['a negative size', page(`${key}<Size>-1</Size>`)],
    ['a size with a fraction', page(`${key}<Size>1.5</Size>`)],
    ['a size held in a structure', page(`${key}<Size><n>1</n></Size>`)],
    ['IsTruncated neither true nor false', page(key, '<IsTruncated>yes</IsTruncated>')],
    ['a key holding elements', page('<Key><a>k</a></Key>')],
  ];
  it.each(cases)('%s', (_what, xml) => {
    expect(parseListObjectsV2(xml)).toBeUndefined();
  });
});
