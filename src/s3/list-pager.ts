import type { ListObjectsV2Command, ListObjectsV2CommandOutput, S3Client } from '@aws-sdk/client-s3';
import type { ListPage } from '../storage/s3/listing.js';
import { closeConnectionAfter } from './connection-close.js';
import { type LeanListTransport, leanListV2 } from './list-lean.js';
import { parseListObjectsV2 } from './list-xml.js';
import { s3Sdk } from './sdk.js';

type Input = Parameters<ListPage>[0];

type V2Input = ConstructorParameters<typeof ListObjectsV2Command>[0];

/** How many V2 pages `list-xml.ts` parsed, and how many it left to the SDK (tests read these). */
export const listParseCounts = { fast: 0, sdk: 0 };

/** What the SDK's own parser is left with when ours parsed a page: next to nothing. */
const EMPTY_RESULT = new TextEncoder().encode('<ListBucketResult></ListBucketResult>');

/**
 * ListObjectsV2 through the SDK (endpoint, signing, retries, errors: all the SDK's), with the
 * answer's XML parsed by `parseListObjectsV2` instead of the SDK's parser and schema walk: one
 * middleware next to the HTTP handler reads the 200 body and parses it, leaving the SDK an empty
 * result to parse; another, outermost, puts our page in its place. A body ours does not fully
 * understand (or an error) goes to the SDK's parser untouched.
 */
export function sendListV2(
  client: S3Client,
  input: V2Input,
  options: { close?: boolean; signal?: AbortSignal } = {},
): Promise<ListObjectsV2CommandOutput> {
  const command = new (s3Sdk().ListObjectsV2Command)(input);
  if (options.close) closeConnectionAfter(command);
  let parsed: ReturnType<typeof parseListObjectsV2>;
  command.middlewareStack.add(
    (next) => async (args) => {
      parsed = undefined; // each attempt (retries) parses its own answer
      const result = await next(args);
      const res = result.response as { statusCode?: number; body?: unknown };
      const body = res.body as AsyncIterable<Uint8Array> | undefined;
      if (res.statusCode !== 200 || typeof body?.[Symbol.asyncIterator] !== 'function') return result;
      const chunks: Uint8Array[] = [];
      for await (const chunk of body) chunks.push(chunk);
      const bytes = Buffer.concat(chunks);
      const text = bytes.toString('utf8');
      parsed = parseListObjectsV2(text);
      res.body = parsed ? EMPTY_RESULT : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      // A 200 that is no ListBucketResult at all (empty: a cut answer; a web page: a wrong
      // endpoint) is an empty page to the SDK's parser: a failed answer instead, as the SDK
      // itself treats an empty 200 to CopyObject (503: retried, then an error).
      if (!parsed && !text.includes('<ListBucketResult')) res.statusCode = 503;
      return result;
    },
    { step: 'deserialize', priority: 'low', name: 'ferryListBody' },
  );
  command.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      if (!parsed) {
        listParseCounts.sdk++;
        return result;
      }
      listParseCounts.fast++;
      const output = result.output as ListObjectsV2CommandOutput;
      return { ...result, output: { ...parsed, $metadata: output.$metadata } };
    },
    { step: 'initialize', priority: 'high', name: 'ferryListOutput' },
  );
  return client.send(command, { abortSignal: options.signal });
}

/**
 * One listing request in `bucket`, as ListObjectsV2 (default) or — for old stores without it —
 * ListObjects v1 with its answer reshaped as a V2 page (the marker travels as the continuation
 * token), so the listing code above never knows. With the default (V2), a store that answers
 * NotImplemented / 501 to V2 is switched to v1 for the rest of the pager's life. Requester pays is
 * applied when set. `send` is the backend's error-translating sender. `client` makes (or returns)
 * the SDK client; with `lean` (list-lean.ts) a V2 page is asked without it first, and the SDK
 * client is only made when a page is not answered there.
 */
export function listPagerFor(
  client: () => S3Client,
  bucket: string,
  send: <T>(op: string, key: string, fn: () => Promise<T>) => Promise<T>,
  options: {
    listVersion?: 1 | 2;
    requestPayer?: 'requester';
    sdkParser?: boolean;
    /**
     * Every LIST goes with `Connection: close` (download.ts `closeFirstConnection` turns this on:
     * plain-HTTP custom endpoints). On Ceph RGW an answer on a reused connection often waits
     * 40–50 ms for its last small segment (RGW's Nagle against the client's delayed ACK; a new
     * connection ACKs at once): a one-key LIST 55 ms reused vs 10 ms fresh, 10,000 keys in ten
     * pages 418–585 ms reused vs 250–345 ms fresh (docs/notes/issue-11.md "Session 4: ferry ls").
     */
    closeLists?: boolean;
    lean?: LeanListTransport;
    /** The SDK client's learned clock skew, when it was made (signing the lean request). */
    clockOffset?: () => number;
  } = {},
): ListPage {
  const payer = options.requestPayer ? { RequestPayer: options.requestPayer } : {};
  let v1 = options.listVersion === 1;

  const listV1 = async ({ signal, ...input }: Input): Promise<ListObjectsV2CommandOutput> => {
    const res = await client().send(
      new (s3Sdk().ListObjectsCommand)({
        Bucket: bucket,
        Prefix: input.Prefix,
        Delimiter: input.Delimiter,
        Marker: input.ContinuationToken ?? input.StartAfter,
        MaxKeys: input.MaxKeys,
        ...payer,
      }),
      { abortSignal: signal },
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
      const { signal, ...rest } = input;
      try {
        const v2 = { Bucket: bucket, ...rest, ...payer };
        const close = options.closeLists === true;
        if (options.lean && !options.sdkParser) {
          const page = await leanListV2(options.lean, v2, options.clockOffset?.(), close, signal);
          if (page) return page;
          signal?.throwIfAborted(); // not handed to the SDK: given up
        }
        return await (options.sdkParser
          ? client().send(new (s3Sdk().ListObjectsV2Command)(v2), { abortSignal: signal })
          : sendListV2(client(), v2, { close, signal }));
      } catch (err) {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        const missing = e.name === 'NotImplemented' || e.$metadata?.httpStatusCode === 501;
        // Only the first page can fall back: a V2 continuation token means nothing to v1.
        if (!missing || input.ContinuationToken || signal?.aborted) throw err;
        v1 = true;
        return listV1(input);
      }
    });
  };
}
