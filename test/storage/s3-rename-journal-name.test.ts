import { describe, expect, it } from 'vitest';
import { RENAME_JOURNAL } from '../../src/storage/s3/rename-folder.js';
import { collect, readText } from '../support/collect.js';
import { testS3Storage } from '../support/s3.js';

/**
 * A folder rename keeps its journal at `to/.ferry-rename.json`. A user's file of that name at the
 * top of the source folder must arrive in the destination like any other file: the rename must
 * neither let it stand in for the journal nor delete it as the journal when done.
 */
describe('S3 folder rename: a user file named like the rename journal', () => {
  it('is carried over intact, not deleted as the journal', async () => {
    const { raw: storage } = await testS3Storage();
    await storage.write(`src/${RENAME_JOURNAL}`, Buffer.from('precious user data'));
    await storage.write('src/other.txt', Buffer.from('other'));
    await storage.rename('src', 'dst');
    const names = (await collect(storage.list('dst'))).map((e) => e.name).sort();
    expect(names).toEqual([RENAME_JOURNAL, 'other.txt']);
    expect(await readText(storage, `dst/${RENAME_JOURNAL}`)).toBe('precious user data');
    await expect(storage.stat('src')).rejects.toMatchObject({ code: 'NotFound' });
  });
});
