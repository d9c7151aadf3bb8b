import {
  ListObjectsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ListPage } from '../storage/s3/listing.js';

/**
 * One listing request in `bucket`, as ListObjectsV2 (default) or — for old stores without it —
 * ListObjects v1 with its answer reshaped as a V2 page (the marker travels as the continuation
 * token), so the listing code above never knows. Requester pays is applied when set. `send` is
 * the backend's error-translating sender.
 */
export function listPagerFor(
  client: S3Client,
  bucket: string,
  send: <T>(op: string, key: string, fn: () => Promise<T>) => Promise<T>,
  options: { listVersion?: 1 | 2; requestPayer?: 'requester' } = {},
): ListPage {
  const payer = options.requestPayer ? { RequestPayer: options.requestPayer } : {};
  if (options.listVersion !== 1) {
    return (input) =>
      send('ListObjectsV2', input.Prefix, () =>
        client.send(new ListObjectsV2Command({ Bucket: bucket, ...input, ...payer })),
      );
  }
  return (input) =>
    send('ListObjects', input.Prefix, async (): Promise<ListObjectsV2CommandOutput> => {
      const res = await client.send(
        new ListObjectsCommand({
          Bucket: bucket,
          Prefix: input.Prefix,
          Delimiter: input.Delimiter,
          Marker: input.ContinuationToken,
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
    });
}
