import {
  HeadObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
  type UploadPartCopyCommandInput,
  type UploadPartCopyCommandOutput,
} from '@aws-sdk/client-s3';
import { StorageError } from '../storage/errors.js';

/** Clients whose store refused a correct If-Match on UploadPartCopy: not asked again. */
const refusesIfMatch = new WeakSet<S3Client>();

export interface PinnedSource {
  bucket: string;
  key: string;
  /** The ETag the copy is pinned to (from the caller's HEAD); none: parts are not pinned. */
  etag?: string;
  /** What a HEAD of the source needs (its SSE-C key, requester pays). */
  head?: { SSECustomerAlgorithm?: string; SSECustomerKey?: string; RequestPayer?: 'requester' };
}

/**
 * UploadPartCopy pinned to the source's ETag (x-amz-copy-source-if-match), so the parts of one
 * copy all come from one version of the source, on stores that refuse a correct condition too.
 *
 * Swift's s3api answers 412 to If-Match with a multipart source's `"…-N"` ETag even when it is
 * the source's ETag. On a 412 the source is HEADed: a different ETag is a real change (Conflict);
 * the same ETag means the store refused a correct condition, so this part and every later one
 * (of any copy on this client) go without it, the source's ETag is checked by HEAD instead, once
 * before and once after the unconditional parts (`verify`, before completing), and the caller is
 * told once per client (`warn`). The window left is a change and a change back between the two
 * HEADs; the parts of a conditional copy have none.
 */
export class PinnedPartCopier {
  private unpinned?: Promise<void>;

  constructor(
    private readonly client: S3Client,
    private readonly source: PinnedSource,
    private readonly warn: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  ) {}

  /** Send `command` (without a CopySourceIfMatch of its own) pinned to the source's ETag. */
  async send(command: UploadPartCopyCommand): Promise<UploadPartCopyCommandOutput> {
    const input: UploadPartCopyCommandInput = command.input;
    const etag = this.source.etag;
    if (etag && !refusesIfMatch.has(this.client)) {
      try {
        return await this.client.send(new UploadPartCopyCommand({ ...input, CopySourceIfMatch: etag }));
      } catch (err) {
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 412) throw err;
        await this.checkedOnce(); // Conflict when the source really changed
        if (!refusesIfMatch.has(this.client)) {
          refusesIfMatch.add(this.client);
          this.warn(
            `ferry: note: the S3 store refused a correct If-Match on UploadPartCopy (s3://${this.source.bucket}/${this.source.key}, ETag ${etag}); copying without it and checking the source's ETag before and after instead`,
          );
        }
      }
    }
    if (etag) await this.checkedOnce();
    return this.client.send(new UploadPartCopyCommand(input));
  }

  /** One HEAD shared by every part that goes without the condition. */
  private checkedOnce(): Promise<void> {
    this.unpinned ??= this.check();
    return this.unpinned;
  }

  /** Before completing the copy: parts sent without the condition still came from `etag`. */
  async verify(): Promise<void> {
    if (this.unpinned) await this.check();
  }

  private async check(): Promise<void> {
    const { bucket, key, etag } = this.source;
    const head = await this.client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: key, ...this.source.head }),
    );
    if (head.ETag !== etag) {
      throw new StorageError(
        'Conflict',
        `changed by someone else meanwhile: the copy source s3://${bucket}/${key} (ETag ${etag}, now ${head.ETag})`,
      );
    }
  }
}
