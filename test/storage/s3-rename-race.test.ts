import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { StorageError } from '../../src/storage/errors.js';
import { S3Storage } from '../../src/storage/s3/s3-storage.js';
import { shape } from '../support/collect.js';
import { testS3Storage } from '../support/s3.js';

/** Make `client` answer a conditional PUT as a store without conditional writes does (Swift: 501). */
function refuseConditionalPuts(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { IfNoneMatch?: string };
      if (context.commandName === 'PutObjectCommand' && input.IfNoneMatch) {
        throw Object.assign(
          new Error('A header you provided implies functionality that is not implemented'),
          {
            name: 'NotImplemented',
            $metadata: { httpStatusCode: 501 },
          },
        );
      }
      return next(args);
    },
    { step: 'initialize', name: 'noConditionalPut' },
  );
}

/**
 * Issue 7 defect 9, last sentence: two folder renames into one new name at once must not merge.
 * Each rename runs on its own client (two Ferry processes); exactly one owns the destination.
 */
describe('S3 backend: concurrent folder renames into one new name', () => {
  it.each([
    ['a store with conditional PUT (RGW: If-None-Match: *)', false],
    ['a store without it (501: write, settle, read back the token)', true],
  ])('%s: exactly one wins, nothing merges, the loser keeps its files', async (_name, noConditional) => {
    const { storage, conn } = await testS3Storage();
    for (const side of ['one', 'two']) {
      for (let i = 0; i < 6; i++) await storage.write(`${side}/f-${side}-${i}.txt`, side);
    }
    const racer = () => {
      const client = createS3Client(conn);
      if (noConditional) refuseConditionalPuts(client);
      return checkedStorage(new S3Storage(client, conn));
    };
    const [a, b] = [racer(), racer()];
    const results = await Promise.allSettled([a.rename!('one', 'dest'), b.rename!('two', 'dest')]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(won.length).toBe(1);
    expect(lost.length).toBe(1);
    expect(lost[0]!.reason).toBeInstanceOf(StorageError);
    expect((lost[0]!.reason as StorageError).code).toBe('AlreadyExists');
    const winner = results[0]!.status === 'fulfilled' ? 'one' : 'two';
    const loser = winner === 'one' ? 'two' : 'one';
    expect(await shape(storage.list('dest'))).toEqual(
      Array.from({ length: 6 }, (_, i) => `dest/f-${winner}-${i}.txt:${winner.length}`),
    );
    expect((await shape(storage.list(loser))).length).toBe(6);
  });
});
