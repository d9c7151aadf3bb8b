import {
  HeadObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { withPayloadSha256 } from './multipart-session.js';
import { putSmallObject } from './small-object.js';

/**
 * A PutObject (an exclusive create when `IfNoneMatch: '*'`) on the lean path where it applies,
 * through the SDK otherwise or when the lean path did not store it. `sha256`, the body's SHA-256
 * as the caller took it (a running hash), is the signed payload hash on both paths: a body that is
 * not what was hashed is refused by the store (SigV4; SigV2 signs no payload hash).
 *
 * An exclusive create whose answer is lost (the store committed it, then the connection broke) is
 * sent again — by the SDK's retry, or by the SDK after the lean try — and that second request
 * finds the name taken: 412. That 412 is our own write, not someone else's file. So after a lost
 * answer (and only then: a 412 on a first answer is another writer's), the object is HEADed: when
 * its size and every metadata value we sent (the content's SHA-256 among them for uploads, a
 * random claim id for name claims) are the object's, the create succeeded.
 */
export async function putObject(
  client: S3Client,
  input: PutObjectCommandInput & { Body: Buffer },
  options: { sha256?: string; signal?: AbortSignal } = {},
): Promise<{ ETag?: string }> {
  let lost = false;
  const onLost = () => {
    lost = true;
  };
  if (options.sha256 !== undefined) {
    const lean = await putSmallObject(client, input, options.sha256, options.signal, onLost);
    if (lean) return lean;
  }
  // The SDK signs the given SHA-256 as the lean path did, so the store checks the body against
  // it here too. It hashed the body itself before: a wrong hash the store had refused on the lean
  // path was then stored as the object's `ferry-sha256` (test/s3/put-sha256.test.ts).
  const command = new PutObjectCommand(input);
  if (options.sha256 !== undefined) withPayloadSha256(command, options.sha256);
  try {
    return await client.send(command, { abortSignal: options.signal });
  } catch (err) {
    const meta = (err as { $metadata?: { httpStatusCode?: number; attempts?: number } }).$metadata;
    if (input.IfNoneMatch === '*' && meta?.httpStatusCode === 412 && (lost || (meta.attempts ?? 1) > 1)) {
      const ours = await ownObject(client, input).catch(() => undefined);
      if (ours) return ours;
    }
    throw err;
  }
}

/** The object at `input`'s key when it is the one `input` describes (size and metadata). */
async function ownObject(
  client: S3Client,
  input: PutObjectCommandInput & { Body: Buffer },
): Promise<{ ETag?: string } | undefined> {
  const head = await client.send(
    new HeadObjectCommand({
      Bucket: input.Bucket,
      Key: input.Key,
      RequestPayer: input.RequestPayer,
      SSECustomerAlgorithm: input.SSECustomerAlgorithm,
      SSECustomerKey: input.SSECustomerKey,
    }),
  );
  if (head.ContentLength !== input.Body.length) return undefined;
  const sent = Object.entries(input.Metadata ?? {});
  if (sent.length === 0) return undefined; // nothing of ours to tell it by
  const got = head.Metadata ?? {};
  for (const [k, v] of sent) if (got[k.toLowerCase()] !== v) return undefined;
  return { ETag: head.ETag };
}
