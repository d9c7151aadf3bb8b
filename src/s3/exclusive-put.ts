import {
  HeadObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { putSmallObject } from './small-object.js';

/**
 * A PutObject (an exclusive create when `IfNoneMatch: '*'`) on the lean path where it applies,
 * through the SDK otherwise or when the lean path did not store it.
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
  try {
    return await client.send(new PutObjectCommand(input), { abortSignal: options.signal });
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
