import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { checkedStorage } from '../../src/storage/checked.js';
import { MemoryStorage } from '../../src/storage/memory/memory-storage.js';
import { QUOTE } from '../../src/storage/names.js';
import { copyTree, move } from '../../src/storage/operations.js';
import { collect, readAll, readText } from '../support/collect.js';
import { ensureBucket, TEST_BUCKET, testS3, testS3Storage } from '../support/s3.js';

async function put(client: S3Client, key: string, body: string): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: key, Body: body }));
}

async function getRaw(client: S3Client, key: string): Promise<string> {
  const res = await client.send(new GetObjectCommand({ Bucket: TEST_BUCKET, Key: key }));
  return (await readAll(res.Body as AsyncIterable<Uint8Array>)).toString();
}

async function rawKeys(client: S3Client, prefix: string): Promise<string[]> {
  const res = await client.send(new ListObjectsV2Command({ Bucket: TEST_BUCKET, Prefix: `${prefix}/` }));
  // The folder's own marker ('') is not a file.
  return (res.Contents ?? [])
    .map((o) => o.Key!.slice(prefix.length + 1))
    .filter((k) => k !== '')
    .sort();
}

/**
 * Keys written by other tools whose names no Ferry path can express (issue 7, defect 2) list
 * under their encoded names (names.ts) and are read, copied, renamed and removed by them.
 */
describe('S3 backend: names paths cannot express round-trip (‛ encoding)', () => {
  const q = QUOTE;
  // native key (below the prefix) → the Ferry path it lists under
  // A key holding a control character breaks Swift s3api's XML listings (500): not on such a store.
  const controls = testS3().supports.controlCharPrefixes;
  const cases: [string, string][] = [
    ['Cafe\u0301.jpg', `${q}Cafe%CC%81.jpg`],
    ['a//b', `a/${q}/b`],
    ...(controls ? ([['x\u0007y', `${q}x%07y`]] as [string, string][]) : []),
    ['d/./dot.txt', `d/${q}./dot.txt`],
    ['d/../up.txt', `d/${q}../up.txt`],
    [`${q}quoted.txt`, `${q}%E2%80%9Bquoted.txt`],
  ];
  const [oddKey, oddPath] = controls ? ['x\u0007y', `${q}x%07y`] : [`${q}x`, `${q}%E2%80%9Bx`];

  it('lists, stats and reads each by its listed name (the right bytes, not the NFC twin)', async () => {
    const { storage, client, conn } = await testS3Storage();
    await put(client, `${conn.prefix}/Caf\u00e9.jpg`, 'the NFC twin');
    for (const [key] of cases) await put(client, `${conn.prefix}/${key}`, `bytes of ${JSON.stringify(key)}`);
    const listed = (await collect(storage.list('', { recursive: true })))
      .filter((e) => e.type === 'file')
      .map((e) => e.path);
    expect(listed.sort()).toEqual([...cases.map(([, p]) => p), 'Caf\u00e9.jpg'].sort());
    // Children listings (delimiter) give the same names.
    const top = (await collect(storage.list(''))).map((e) => `${e.path}${e.type === 'dir' ? '/' : ''}`);
    expect(top).toContain(`${q}Cafe%CC%81.jpg`);
    expect(top).toContain('a/');
    expect((await collect(storage.list('a'))).map((e) => e.path)).toEqual([`a/${q}`]);
    expect((await collect(storage.list(`a/${q}`))).map((e) => e.path)).toEqual([`a/${q}/b`]);
    for (const [key, path] of cases) {
      expect((await storage.stat(path)).type, path).toBe('file');
      expect(await readText(storage, path)).toBe(`bytes of ${JSON.stringify(key)}`);
    }
    expect(await readText(storage, 'Caf\u00e9.jpg')).toBe('the NFC twin');
  });

  it('copies, renames and removes each by its listed name', async () => {
    const { storage, client, conn } = await testS3Storage();
    await put(client, `${conn.prefix}/Caf\u00e9.jpg`, 'the NFC twin');
    for (const [key] of cases)
      await put(client, `${conn.prefix}/src/${key}`, `bytes of ${JSON.stringify(key)}`);
    // Server-side copy and rename of single files by their encoded names.
    await storage.copy!(`src/${q}Cafe%CC%81.jpg`, `copied/${q}Cafe%CC%81.jpg`);
    expect(await getRaw(client, `${conn.prefix}/copied/Cafe\u0301.jpg`)).toBe('bytes of "Cafe\u0301.jpg"');
    await storage.rename!(`copied/${q}Cafe%CC%81.jpg`, `copied/${oddPath}`);
    expect(await getRaw(client, `${conn.prefix}/copied/${oddKey}`)).toBe('bytes of "Cafe\u0301.jpg"');
    await storage.remove(`copied/${oddPath}`);
    // A tree copy carries every key, byte-exactly named (none skipped).
    await copyTree(storage, 'src', storage, 'tree');
    expect(await rawKeys(client, `${conn.prefix}/tree`)).toEqual(cases.map(([k]) => k).sort());
    // A folder rename carries them too, and leaves none behind.
    await storage.rename!('tree', 'moved');
    expect(await rawKeys(client, `${conn.prefix}/moved`)).toEqual(cases.map(([k]) => k).sort());
    expect(await rawKeys(client, `${conn.prefix}/tree`)).toEqual([]);
    for (const [key, path] of cases) {
      expect(await readText(storage, `moved/${path}`)).toBe(`bytes of ${JSON.stringify(key)}`);
      await storage.remove(`moved/${path}`);
    }
    // No file is left; the folders their removal emptied stay, as markers (docs/s3-semantics.md),
    // under their byte-exact names too.
    expect(await rawKeys(client, `${conn.prefix}/moved`)).toEqual(['a//', 'd/../', 'd/./']);
    // The twin was never touched.
    expect(await getRaw(client, `${conn.prefix}/Caf\u00e9.jpg`)).toBe('the NFC twin');
  });

  it('a move to another bucket and to memory carries every key and deletes only what it copied', async () => {
    const a = await testS3Storage();
    const b = await testS3Storage({ bucket: 'ferry-test-other' });
    await ensureBucket(b.client, 'ferry-test-other');
    for (const [key] of cases)
      await put(a.client, `${a.conn.prefix}/m/${key}`, `bytes of ${JSON.stringify(key)}`);
    await move(a.storage, 'm', b.storage, 'm');
    expect(await rawKeys(a.client, `${a.conn.prefix}/m`)).toEqual([]);
    const there = await b.client.send(
      new ListObjectsV2Command({ Bucket: 'ferry-test-other', Prefix: `${b.conn.prefix}/m/` }),
    );
    expect(
      (there.Contents ?? [])
        .map((o) => o.Key!.slice(`${b.conn.prefix}/m/`.length))
        .filter((k) => k !== '')
        .sort(),
    ).toEqual(cases.map(([k]) => k).sort());
    // Through memory and back: the names survive a backend that keeps paths as they are.
    const mem = checkedStorage(new MemoryStorage());
    await move(b.storage, 'm', mem, 'm');
    await move(mem, 'm', a.storage, 'back');
    expect(await rawKeys(a.client, `${a.conn.prefix}/back`)).toEqual(cases.map(([k]) => k).sort());
  });

  it('a non-canonical encoded name is InvalidArgument, not another name for the same key', async () => {
    const { storage } = await testS3Storage();
    await expect(storage.stat(`${q}Cafe%cc%81.jpg`)).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(storage.write(`${q}plain`, 'x')).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});

/**
 * A path whose last segment is `‛` (an empty native name) would be the key `x/`: the folder
 * marker of `x`. A file there would be hidden by every listing (markers are not files) and lost
 * by `rmdir x`, which deletes the marker. No file can have that name (as on local disks).
 */
describe('S3 backend: no file at a path ending in an empty name', () => {
  it('write, openWrite, copy and rename to `x/‛` are InvalidArgument and leave the marker alone', async () => {
    const { raw: storage, client, conn } = await testS3Storage();
    await storage.write('src.txt', Buffer.from('data'));
    await storage.write('x/y', Buffer.from('y'));
    const target = `x/${QUOTE}`;
    await expect(storage.write(target, Buffer.from('lost?'))).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
    await expect(storage.openWrite(target)).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(storage.copy('src.txt', target)).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(storage.rename('src.txt', target)).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(storage.write(QUOTE, Buffer.from('root marker?'))).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
    expect(await rawKeys(client, conn.prefix)).toEqual(['src.txt', 'x/y']);
    expect(await readText(storage, 'src.txt')).toBe('data');
    await expect(storage.stat(target)).rejects.toMatchObject({ code: 'NotFound' });
  });
});

/**
 * `x_$folder$` is a Hadoop folder marker (zero bytes). A file of that name with content is a
 * file: listings must show it (a tree copy or move that took it for a folder would leave it
 * behind or delete it), and Ferry must not create one (it would list as the folder `x`).
 */
describe('S3 backend: files named like Hadoop folder markers', () => {
  it('a non-empty `x_$folder$` key lists as a file; writing one is InvalidArgument', async () => {
    const { raw: storage, client, conn } = await testS3Storage();
    await put(client, `${conn.prefix}/d/data_$folder$`, 'precious');
    const flat = (await collect(storage.list('d'))).map((e) => [e.name, e.type]);
    expect(flat).toEqual([['data_$folder$', 'file']]);
    const tree = (await collect(storage.list('', { recursive: true }))).map((e) => [e.path, e.type]);
    expect(tree).toContainEqual(['d/data_$folder$', 'file']);
    await expect(storage.write('e/new_$folder$', Buffer.from('x'))).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
    await expect(storage.openWrite('e/new_$folder$')).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});
