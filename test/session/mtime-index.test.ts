import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/db/database.js';
import { StoreMtimeIndex } from '../../src/db/mtime-index.js';
import { createS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { StoragePool } from '../../src/session/storage-pool.js';
import type { Entry } from '../../src/storage/types.js';
import { freshPostgresUrl } from '../support/postgres.js';
import { ensureBucket, testConnection } from '../support/s3.js';
import { sessionFor, tempStore, userWith } from './support.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

/** A store whose queries are counted (a kysely plugin on the same connection). */
function counted(store: Store): { store: Store; queries: () => number } {
  let n = 0;
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      n++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  return { store: { ...store, db: store.db.withPlugin(plugin) }, queries: () => n };
}

describe.each(['sqlite', 'postgres'] as const)('the mtime index in the store (%s)', (backend) => {
  let store: Store;
  let dir: string;
  let conn: S3Connection;

  beforeAll(async () => {
    const temp = await tempStore();
    dir = temp.dir;
    if (backend === 'sqlite') store = temp.store;
    else {
      await temp.store.close();
      store = await openStore(await freshPostgresUrl());
    }
    conn = testConnection({ partSize: 5 * MiB, multipartThreshold: 5 * MiB });
    const client = createS3Client(conn);
    await ensureBucket(client, conn.bucket);
    client.destroy();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('lookup: matches on key and ETag (quoted or not), one query per 1,000 keys; record replaces; forget removes', async () => {
    const { store: s, queries } = counted(store);
    const index = new StoreMtimeIndex(s);
    const t = new Date('2021-05-06T07:08:09.000Z');
    const keys = Array.from({ length: 1500 }, (_, i) => `p/k${i}`);
    for (const [i, k] of keys.entries()) await index.record('scope-a', k, `"etag${i}"`, t);
    await index.record('scope-b', 'p/k0', 'etag0', new Date(0)); // another bucket, same key
    const before = queries();
    const found = await index.lookup('scope-a', [
      ...keys.map((key, i) => ({ key, etag: i === 7 ? '"other"' : `etag${i}` })),
      { key: 'p/missing', etag: 'x' },
    ]);
    expect(queries() - before).toBe(2); // 1,501 keys: two queries
    expect(found.size).toBe(1499); // k7's ETag changed (another tool wrote it); p/missing has none
    expect(found.get('p/k0')?.toISOString()).toBe(t.toISOString());
    expect(found.has('p/k7')).toBe(false);

    const later = new Date('2022-01-01T00:00:00.000Z');
    await index.record('scope-a', 'p/k0', '"new"', later);
    expect((await index.lookup('scope-a', [{ key: 'p/k0', etag: '"new"' }])).get('p/k0')).toEqual(later);
    await index.forget('scope-a', keys);
    expect((await index.lookup('scope-a', [{ key: 'p/k1', etag: 'etag1' }])).size).toBe(0);
    expect((await index.lookup('scope-b', [{ key: 'p/k0', etag: 'etag0' }])).size).toBe(1);
    expect((await index.lookup('scope-a', [])).size).toBe(0);
  });

  it('Session.list shows the mtimes Ferry wrote with no HEAD; an object replaced by aws s3 cp shows its LastModified', async () => {
    const ops: string[] = [];
    const pool = new StoragePool({
      resolveConnection: async () => ({ ...conn, showPartialUploads: false }),
      s3ClientOptions: { observer: (r) => void ops.push(r.operation) },
      mtimeIndex: new StoreMtimeIndex(store),
    });
    const username = `mt-${backend}`;
    const user = userWith({ username, home: { type: 's3', connection: 'main', prefix: username } });
    const { session } = sessionFor(user, { store, pool });
    const times = {
      'small.txt': new Date('2019-01-02T03:04:05.000Z'),
      'large.bin': new Date('2018-02-03T04:05:06.000Z'),
      'handle.txt': new Date('2017-03-04T05:06:07.000Z'),
      'touched.txt': new Date('2016-04-05T06:07:08.000Z'),
      'moved.txt': new Date('2015-05-06T07:08:09.000Z'),
    };
    await session.write('/d/small.txt', 'small', { mtime: times['small.txt'] });
    await session.write('/d/large.bin', randomBytes(6 * MiB), { mtime: times['large.bin'] }); // multipart ETag
    const h = await session.openWrite('/d/handle.txt');
    await h.write(0, Buffer.from('by handle'));
    await h.setAttributes({ mtime: times['handle.txt'] });
    await h.close();
    await session.write('/d/touched.txt', 'touched');
    await session.setModTime('/d/touched.txt', times['touched.txt']);
    await session.write('/d/before-move.txt', 'moved', { mtime: times['moved.txt'] });
    await session.rename('/d/before-move.txt', '/d/moved.txt');
    await session.write('/d/plain.txt', 'no mtime given');

    const listing = async () => {
      const out = new Map<string, Entry>();
      for await (const e of session.list('/d')) out.set(e.name, e);
      return out;
    };
    ops.length = 0;
    const seen = await listing();
    expect(ops.filter((o) => o === 'HeadObject')).toEqual([]);
    for (const [name, t] of Object.entries(times)) {
      expect(seen.get(name)?.mtime.toISOString(), name).toBe(t.toISOString());
      expect(seen.get(name)?.clientMtime, name).toBe(true);
    }
    expect(seen.get('before-move.txt')).toBeUndefined();
    expect(seen.get('plain.txt')?.clientMtime).toBeUndefined();
    expect(Date.now() - seen.get('plain.txt')!.mtime.getTime()).toBeLessThan(10 * 60_000);

    // Another tool replaces one: its ETag changes, so LastModified (now) shows, not the old time.
    const local = join(dir, `other-${backend}.txt`);
    writeFileSync(local, 'written by aws s3 cp');
    await run(
      'aws',
      [
        '--endpoint-url',
        conn.endpoint!,
        's3',
        'cp',
        local,
        `s3://${conn.bucket}/${conn.prefix}/${username}/d/small.txt`,
      ],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          AWS_ACCESS_KEY_ID: conn.accessKeyId,
          AWS_SECRET_ACCESS_KEY: conn.secretAccessKey,
          AWS_DEFAULT_REGION: 'us-east-1',
        },
      },
    );
    const after = await listing();
    expect(after.get('small.txt')?.clientMtime).toBeUndefined();
    expect(after.get('small.txt')!.mtime.getTime()).toBeGreaterThan(times['small.txt'].getTime());
    expect(Math.abs(Date.now() - after.get('small.txt')!.mtime.getTime())).toBeLessThan(10 * 60_000);
    expect(after.get('large.bin')?.mtime.toISOString()).toBe(times['large.bin'].toISOString());
    await session.close();
    pool.close();
  });
});
