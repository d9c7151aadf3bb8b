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
  /** A given version of the key (a version never changes; its ETag is still checked). */
  versionId?: string;
  /** The ETag the copy is pinned to (from the caller's HEAD); none: parts are not pinned. */
  etag?: string;
  /** What a HEAD of the source needs (its SSE-C key, requester pays). */
  head?: { SSECustomerAlgorithm?: string; SSECustomerKey?: string; RequestPayer?: 'requester' };
}

/**
 * UploadPartCopy pinned to the source's ETag, so the parts of one copy all come from one version
 * of the source — on every store, whatever it does with x-amz-copy-source-if-match:
 * - S3 honours it (a changed source fails the part with 412);
 * - Ceph RGW 16 ignores it (a part copies whatever the source is now; checked on these machines);
 * - Swift's s3api answers 412 to a multipart source's `"…-N"` ETag even when it is the right one.
 * So the condition is sent, and on a 412 the source is HEADed: a different ETag is a real change
 * (Conflict); the same ETag means the store refused a correct condition, so this part and every
 * later one (of any copy on this client) go without it, after a HEAD that checks the ETag, and
 * the caller is told once per client (`warn`). In every case `verify` HEADs the source once more
 * before the copy is completed: a source changed while its parts were copied is a Conflict, never
 * an object made of two versions. The window left is a change and a change back between the HEADs.
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

  /** Before completing the copy: the source still has the ETag every part was copied from. */
  async verify(): Promise<void> {
    if (this.source.etag) await this.check();
  }

  private async check(): Promise<void> {
    const { bucket, key, etag, versionId } = this.source;
    const head = await this.client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId, ...this.source.head }),
    );
    if (head.ETag !== etag) {
      throw new StorageError(
        'Conflict',
        `changed by someone else meanwhile: the copy source s3://${bucket}/${key} (ETag ${etag}, now ${head.ETag})`,
      );
    }
  }
}
