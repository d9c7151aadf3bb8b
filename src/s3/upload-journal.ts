import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ListPartsCommand, type S3Client } from '@aws-sdk/client-s3';
import { isNotFound } from './errors.js';
import { abortUpload } from './multipart-session.js';
import type { ResumePoint } from './upload.js';

/**
 * The journal of resumable uploads: one small JSON file per destination object, written when a
 * multipart upload of a local file starts and removed when it ends (either way). A `ferry cp`
 * killed with SIGKILL leaves it behind; the next `ferry cp` of the same file to the same object
 * finds it, lists the parts already in S3 and continues.
 *
 * Why a local journal and not only ListMultipartUploads: S3 lists an unfinished upload's key,
 * id and start time, but not the metadata it was created with, so it cannot tell which source
 * (and which mtime/content type) an upload was for. The journal names the source (path, size,
 * mtime); the parts themselves are still checked byte for byte (MD5) while streaming.
 */
export interface SourceIdentity {
  path: string;
  size: number;
  mtimeMs: number;
}

interface JournalEntry {
  endpoint: string;
  bucket: string;
  key: string;
  uploadId: string;
  partSize: number;
  source: SourceIdentity;
  started: string;
}

/** `$FERRY_STATE_DIR`, else `$XDG_STATE_HOME/ferry`, else `~/.local/state/ferry`; then `uploads/`. */
export function journalDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.FERRY_STATE_DIR ||
    (env.XDG_STATE_HOME ? join(env.XDG_STATE_HOME, 'ferry') : join(homedir(), '.local/state/ferry'));
  return join(base, 'uploads');
}

export class UploadJournal {
  private readonly file: string;

  constructor(
    private readonly endpoint: string,
    private readonly bucket: string,
    private readonly key: string,
    dir = journalDir(),
  ) {
    const id = createHash('sha256')
      .update(JSON.stringify([endpoint, bucket, key]))
      .digest('hex');
    this.file = join(dir, `${id.slice(0, 32)}.json`);
  }

  /**
   * The earlier unfinished upload of this same source to this object, with its parts (ListParts),
   * or undefined. An earlier upload of a different source (the file changed) is aborted: it was
   * ours and can never be completed correctly. So is one whose parts can't be listed (ListParts
   * refused — the credentials lack s3:ListMultipartUploadParts — or failing): resuming is then
   * impossible, and failing every later copy of the file for it would be worse than starting
   * afresh. An abort that fails leaves that upload to `ferry uploads` / the lifecycle rule.
   * `payer` is requester pays for ListParts and Abort.
   */
  async resumePoint(
    client: S3Client,
    source: SourceIdentity,
    payer: { RequestPayer?: 'requester' } = {},
  ): Promise<ResumePoint | undefined> {
    const entry = await this.read();
    if (!entry) return undefined;
    const same =
      entry.source.path === source.path &&
      entry.source.size === source.size &&
      entry.source.mtimeMs === source.mtimeMs;
    if (!same) {
      await abortUpload(client, this.bucket, this.key, entry.uploadId, payer);
      await this.forget();
      return undefined;
    }
    const parts = new Map<number, { etag: string; size: number }>();
    try {
      let marker: string | undefined;
      do {
        const page = await client.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key: this.key,
            UploadId: entry.uploadId,
            PartNumberMarker: marker,
            ...payer,
          }),
        );
        for (const p of page.Parts ?? []) {
          if (p.PartNumber && p.ETag) parts.set(p.PartNumber, { etag: p.ETag, size: p.Size ?? 0 });
        }
        marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
      } while (marker);
    } catch (err) {
      // Gone (completed or aborted meanwhile), or not listable: either way not resumable.
      if (!isNotFound(err)) await abortUpload(client, this.bucket, this.key, entry.uploadId, payer);
      await this.forget();
      return undefined;
    }
    return { uploadId: entry.uploadId, partSize: entry.partSize, parts };
  }

  async record(uploadId: string, partSize: number, source: SourceIdentity): Promise<void> {
    const entry: JournalEntry = {
      endpoint: this.endpoint,
      bucket: this.bucket,
      key: this.key,
      uploadId,
      partSize,
      source,
      started: new Date().toISOString(),
    };
    await fs.mkdir(join(this.file, '..'), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(entry));
    await fs.rename(tmp, this.file);
  }

  async forget(): Promise<void> {
    await fs.rm(this.file, { force: true });
  }

  private async read(): Promise<JournalEntry | undefined> {
    try {
      return JSON.parse(await fs.readFile(this.file, 'utf8')) as JournalEntry;
    } catch {
      return undefined;
    }
  }
}
