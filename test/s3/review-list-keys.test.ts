import { describe, expect, it } from 'vitest';
import { createS3Client, lazyS3Client } from '../../src/s3/client.js';
import { leanListStats } from '../../src/s3/list-lean.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { collect } from '../support/collect.js';
import { clientWithKeys, testConnection } from '../support/s3.js';

/**
 * Review of the lean listing with keys XML cannot carry as they are (control characters, CR, LF,
 * DEL, C1) or that look like markup once decoded: every listed entry must be a key that exists
 * (read back through the same storage), on the lean path and on the SDK's, and nothing may be
 * missing. A parser that normalised a CR to LF (as XML parsers must) would list a key that is not
 * there.
 */
const NAMES = [
  'cr\rhere',
  'crlf\r\nhere',
  'lf\nhere',
  'ctl\u0001\u001fhere',
  'del\u007fhere',
  'c1\u0085here',
  '&#x41;literal',
  '&lt;literal&gt;',
  'pct%2Fslash',
  'nul-less\u00a0nbsp',
];

describe('review: the lean listing with keys XML cannot hold as they are', () => {
  const conn = testConnection();
  const client = clientWithKeys(conn, NAMES);
  const base = `${conn.prefix}/`;

  it('every key listed once, as it is, and readable by the path listed (lean and SDK)', async () => {
    const lean = checkedStorage(new S3Storage(lazyS3Client(conn), conn));
    const sdk = checkedStorage(
      new S3Storage(createS3Client(conn, { ...process.env, FERRY_LEAN_S3: '0' }), conn),
    );
    const before = { ...leanListStats };
    for (const [name, s] of [
      ['lean', lean],
      ['sdk', sdk],
    ] as const) {
      const entries = await collect(s.list('', { recursive: true }));
      expect(entries.length, name).toBe(NAMES.length);
      const keyMap = new S3Storage(client, conn).keys;
      expect(entries.map((e) => keyMap.file(e.path)).sort(), name).toEqual(NAMES.map((n) => base + n).sort());
      for (const e of entries) {
        const body = await s.read(e.path);
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(c as Buffer);
        expect(Buffer.concat(chunks).toString(), `${name} ${JSON.stringify(e.path)}`).toBe(
          keyMap.file(e.path).slice(base.length),
        );
      }
    }
    expect(leanListStats.pages - before.pages, 'the lean path parsed its page').toBeGreaterThanOrEqual(1);
    expect(leanListStats.handedToSdk - before.handedToSdk).toBe(0);
  });
});
