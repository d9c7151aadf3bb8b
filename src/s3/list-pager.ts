import {
  ListObjectsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ListPage } from '../storage/s3/listing.js';

type Input = Parameters<ListPage>[0];

/**
 * One listing request in `bucket`, as ListObjectsV2 (default) or — for old stores without it —
 * ListObjects v1 with its answer reshaped as a V2 page (the marker travels as the continuation
 * token), so the listing code above never knows. With the default (V2), a store that answers
 * NotImplemented / 501 to V2 is switched to v1 for the rest of the pager's life. Requester pays is
 * applied when set. `send` is the backend's error-translating sender.
 */
export function listPagerFor(
  client: S3Client,
  bucket: string,
  send: <T>(op: string, key: string, fn: () => Promise<T>) => Promise<T>,
  options: { listVersion?: 1 | 2; requestPayer?: 'requester' } = {},
): ListPage {
  const payer = options.requestPayer ? { RequestPayer: options.requestPayer } : {};
  let v1 = options.listVersion === 1;

  const listV1 = async (input: Input): Promise<ListObjectsV2CommandOutput> => {
    const res = await client.send(
      new ListObjectsCommand({
        Bucket: bucket,
        Prefix: input.Prefix,
        Delimiter: input.Delimiter,
        Marker: input.ContinuationToken ?? input.StartAfter,
        MaxKeys: input.MaxKeys,
        ...payer,
      }),
    );
    const contents = res.Contents ?? [];
    // V1 gives NextMarker only with a delimiter; otherwise the last key is the marker.
    const last = [
      ...contents.map((o) => o.Key ?? ''),
      ...(res.CommonPrefixes ?? []).map((p) => p.Prefix ?? ''),
    ]
      .sort()
      .pop();
    return {
      $metadata: res.$metadata,
      Contents: contents,
      CommonPrefixes: res.CommonPrefixes,
      IsTruncated: res.IsTruncated,
      NextContinuationToken: res.IsTruncated ? (res.NextMarker ?? last) : undefined,
      KeyCount: contents.length + (res.CommonPrefixes?.length ?? 0),
      Prefix: res.Prefix,
      Delimiter: res.Delimiter,
      MaxKeys: res.MaxKeys,
    };
  };

  return (input) => {
    if (v1) return send('ListObjects', input.Prefix, () => listV1(input));
    return send('ListObjectsV2', input.Prefix, async () => {
      try {
        return await client.send(new ListObjectsV2Command({ Bucket: bucket, ...input, ...payer }));
      } catch (err) {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        const missing = e.name === 'NotImplemented' || e.$metadata?.httpStatusCode === 501;
        // Only the first page can fall back: a V2 continuation token means nothing to v1.
        if (!missing || input.ContinuationToken) throw err;
        v1 = true;
        return listV1(input);
      }
    });
  };
}
