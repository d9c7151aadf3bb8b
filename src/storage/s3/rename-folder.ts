import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { type CopyOptions, copyObject } from '../../s3/copy.js';
import { translateS3Error } from '../../s3/errors.js';
import { forEachConcurrent } from '../../util/concurrency.js';
import { notFound, StorageError } from '../errors.js';
import type { StoragePath } from '../types.js';
import { keepParent, parentWouldVanish } from './folders.js';
import { MTIME_META, parseMtime } from './keys.js';
import { pages } from './listing.js';
import type { S3Storage } from './s3-storage.js';

/**
 * Name of the journal object a folder rename keeps inside the destination while it runs. Its
 * presence tells a later rename of the same source to the same destination to carry on.
 */
export const RENAME_JOURNAL = '.ferry-rename.json';

interface Journal {
  from: string;
  to: string;
  started: string;
  /** Which rename wrote it: on a store without conditional PUT, the writer reads it back. */
  token?: string;
}

/**
 * On a store without conditional PUT: how long a rename waits between writing its journal and
 * reading it back. A racing rename that checked the destination before our write writes its own
 * journal one round trip later; waiting longer than that makes us see it (and give way).
 */
export const CLAIM_SETTLE_MS = 1000;

/**
 * Rename a folder: every key below `from/` (its marker included) is copied server-side to the same
 * place below `to/` and then deleted, `concurrency` keys at a time. Each key is deleted only after
 * its copy succeeded, so an interruption never loses data; the journal object in the destination
 * lets the same rename, run again, finish the job (copies are idempotent). The destination must
 * not exist unless it holds that journal.
 */
export async function renameFolder(
  s3: S3Storage,
  from: StoragePath,
  to: StoragePath,
  options: CopyOptions,
): Promise<void> {
  const { client, bucket, keys } = s3;
  const fromPrefix = keys.dir(from);
  const toPrefix = keys.dir(to);
  const journalKey = `${toPrefix}${RENAME_JOURNAL}`;

  const destination = await s3.firstKeyUnder(to);
  const destinationFile = destination === undefined ? await s3.head(to) : undefined;
  /** The token of the journal this rename runs under (undefined for an old token-less one). */
  let token: string | undefined;
  if (destination !== undefined || destinationFile) {
    const journal = await readJournal(s3, journalKey);
    if (journal?.from !== fromPrefix)
      throw new StorageError('AlreadyExists', `already exists: /${to}`, { path: to });
    token = journal.token;
  } else {
    if ((await s3.firstKeyUnder(from)) === undefined) {
      const head = await s3.head(from);
      if (!head) throw notFound(from);
    }
    const journal: Journal = {
      from: fromPrefix,
      to: toPrefix,
      started: new Date().toISOString(),
      token: randomUUID(),
    };
    await claimDestination(s3, to, journalKey, journal);
    token = journal.token;
  }

  // The source's parent stays when this was its last entry (folders.ts).
  await keepParent(s3, from, await parentWouldVanish(s3, from, to));

  // Page by page: copy the page's keys in parallel, then delete the copied ones with one
  // DeleteObjects. A key is deleted only after its copy succeeded; if some copies failed, the
  // copied ones are still deleted before the error is thrown, so a re-run has less to do.
  for await (const page of pages(s3.listPage, fromPrefix)) {
    const copied: string[] = [];
    let failure: unknown;
    await forEachConcurrent(page.Contents ?? [], options.concurrency, async (o) => {
      const key = o.Key!;
      const target = toPrefix + key.slice(fromPrefix.length);
      // A listing says nothing of SSE, caching headers or metadata: a HEAD per key lets the
      // copy keep them exactly (defect 6 of issue 7: without it, an SSE-KMS object lost its key).
      const head = await s3.head(keys.path(key));
      if (!head) return; // gone since the listing: nothing to move, nothing to delete
      const size = head.ContentLength ?? o.Size ?? 0;
      const res = await s3.send('CopyObject', target, () =>
        copyObject(
          client,
          { bucket, key, size, storageClass: o.StorageClass, head },
          { bucket, key: target },
          { ...options, exact: true },
        ),
      );
      copied.push(key);
      // The mtime index follows the file (the copy kept X-Amz-Meta-Mtime; the HEAD shows it).
      if (!key.endsWith('/')) await s3.noteMtime(target, res.etag, parseMtime(head.Metadata?.[MTIME_META]));
    }).catch((err: unknown) => {
      failure = err;
    });
    await s3.deleteKeys(copied);
    await s3.forgetMtimes(copied);
    if (failure !== undefined) throw failure;
  }
  // A marker-less source whose only marker was a slash-less key (old s3fs) is removed too.
  const head = await s3.head(from);
  if (head) await s3.deleteKey(keys.file(from));
  // A user's file of the journal's name at the top of the source was copied over the journal:
  // it is now that file, and stays. Only our own journal is deleted.
  const journal = await readJournal(s3, journalKey);
  if (journal?.from === fromPrefix && journal.token === token) await s3.deleteKey(journalKey);
}

/**
 * Write the journal so that of two renames into one new name only one owns it (they would merge
 * otherwise): a conditional PUT (If-None-Match: *, which RGW and AWS honour) where the store has
 * it; on a store that answers 501 (Swift's s3api), write, wait CLAIM_SETTLE_MS, read back and
 * give way unless our token is there. Then a rename that finished between the caller's check and
 * this claim is caught by its keys in the destination: one LIST.
 */
async function claimDestination(s3: S3Storage, to: StoragePath, journalKey: string, journal: Journal) {
  const taken = () => new StorageError('AlreadyExists', `already exists: /${to}`, { path: to });
  const put = (conditional: boolean) =>
    s3.client.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: journalKey,
        Body: Buffer.from(JSON.stringify(journal)),
        ContentType: 'application/json',
        ...(conditional && { IfNoneMatch: '*' }),
      }),
    );
  try {
    await put(true);
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    if (status === 412 || e.name === 'PreconditionFailed') throw taken();
    if (!(status === 501 || e.name === 'NotImplemented')) {
      throw translateS3Error(err, { operation: 'PutObject', bucket: s3.bucket, key: journalKey, path: to });
    }
    await s3.send('PutObject', journalKey, () => put(false));
    await sleep(CLAIM_SETTLE_MS);
    if ((await readJournal(s3, journalKey))?.token !== journal.token) throw taken();
  }
  const page = await s3.listPage({ Prefix: s3.keys.dir(to), MaxKeys: 2 });
  if ((page.Contents ?? []).some((o) => o.Key !== journalKey)) {
    await s3.deleteKey(journalKey);
    throw taken();
  }
}

async function readJournal(s3: S3Storage, key: string): Promise<Journal | undefined> {
  try {
    const res = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    return JSON.parse(await res.Body!.transformToString()) as Journal;
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}
