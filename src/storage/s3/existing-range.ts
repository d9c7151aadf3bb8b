import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { StorageError } from '../errors.js';
import type { StoragePath } from '../types.js';
import type { S3Storage } from './s3-storage.js';

/**
 * Bytes [from, to) of the object at `key` as it was when a write handle opened it (one ranged
 * GET pinned with If-Match: a changed object fails instead of mixing two versions), handed to
 * `onChunk` as they arrive (awaited: a slow consumer slows the download, memory stays bounded).
 * Conflict when fewer bytes came than asked (the object shrank under us).
 */
export async function fetchExisting(
  s3: S3Storage,
  path: StoragePath,
  key: string,
  etag: string | undefined,
  from: number,
  to: number,
  signal: AbortSignal,
  onChunk: (chunk: Buffer) => Promise<void>,
): Promise<void> {
  if (to <= from) return;
  const res = await s3.send('GetObject', key, () =>
    s3.client.send(
      new GetObjectCommand({
        Bucket: s3.bucket,
        Key: key,
        Range: `bytes=${from}-${to - 1}`,
        IfMatch: etag,
        ...s3.params.read,
      }),
      { abortSignal: signal },
    ),
  );
  let got = 0;
  for await (const chunk of res.Body as Readable) {
    got += (chunk as Buffer).length;
    await onChunk(chunk as Buffer);
  }
  if (got !== to - from) throw new StorageError('Conflict', `/${path} changed while writing it`, { path });
}
