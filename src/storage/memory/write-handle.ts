import { StorageError } from '../errors.js';
import { BaseWriteHandle, checkFinalSize, type OpenWriteOptions, type WriteAttributes } from '../handles.js';
import type { Entry, StoragePath } from '../types.js';

/** What the memory handle needs of MemoryStorage. */
export interface MemoryTarget {
  /** The current bytes at `path`, undefined when no file (IsADirectory for a folder). */
  existing(path: StoragePath): Buffer | undefined;
  /** The entry of the file at `path` as stored now (undefined: none). */
  entry(path: StoragePath): Entry | undefined;
  /** Store the file at once (synchronously: an exclusive check and the store can't interleave). */
  commit(path: StoragePath, data: Buffer, attrs: WriteAttributes, exclusive: boolean): Entry;
}

/** The memory backend's write handle: bytes gathered in one growing buffer, stored at close. */
export class MemoryWriteHandle extends BaseWriteHandle {
  private data: Buffer;
  private size: number;

  constructor(
    private readonly target: MemoryTarget,
    path: StoragePath,
    options: OpenWriteOptions,
  ) {
    const mode = options.mode ?? 'truncate';
    const old = target.existing(path);
    if (mode === 'exclusive' && old) {
      throw new StorageError('AlreadyExists', `already exists: /${path}`, { path });
    }
    const kept = keptBytes(path, mode, old, options.resumeFrom);
    // `update` keeps every byte but lets the caller write anywhere (startOffset 0).
    super(path, options, mode === 'update' ? 0 : kept.length);
    this.data = Buffer.from(kept);
    this.hadFile = old !== undefined;
    this.size = kept.length;
  }

  protected async doWrite(offset: number, bytes: Uint8Array): Promise<void> {
    const end = offset + bytes.length;
    if (end > this.data.length) {
      const bigger = Buffer.alloc(Math.max(end, this.data.length * 2));
      this.data.copy(bigger, 0, 0, this.size);
      this.data = bigger;
    }
    this.data.set(bytes, offset);
    this.size = Math.max(this.size, end);
  }

  private hadFile = false;

  protected override async doTruncate(size: number): Promise<void> {
    if (size > this.data.length) {
      const bigger = Buffer.alloc(size);
      this.data.copy(bigger, 0, 0, this.size);
      this.data = bigger;
    } else this.data.fill(0, Math.min(size, this.size), Math.max(size, this.size)); // cut bytes read back as zeros if regrown
    this.size = size;
  }

  protected override async doRead(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(this.size, offset + length);
    return offset >= end ? Buffer.alloc(0) : Buffer.from(this.data.subarray(offset, end));
  }

  protected async doClose(): Promise<Entry> {
    checkFinalSize(this.path, this.size, this.options.size);
    const unchanged = this.untouched && this.hadFile ? this.target.entry(this.path) : undefined;
    if (unchanged) return unchanged;
    const exclusive = this.options.mode === 'exclusive';
    return this.target.commit(
      this.path,
      Buffer.from(this.data.subarray(0, this.size)),
      this.attrs,
      exclusive,
    );
  }

  protected async doAbort(): Promise<void> {
    this.data = Buffer.alloc(0);
  }
}

/** The bytes `append` / `resume` / `update` keep from the existing file (shared with the local backend). */
export function keptBytes(
  path: StoragePath,
  mode: string,
  old: Buffer | undefined,
  resumeFrom: number | undefined,
): Buffer {
  if (mode === 'append' || mode === 'update') return old ?? Buffer.alloc(0);
  if (mode !== 'resume') return Buffer.alloc(0);
  const keep = resumeLength(path, old?.length, resumeFrom);
  return old!.subarray(0, keep);
}

/** How many bytes `resume` keeps of an existing file of `existing` bytes (undefined: none). */
export function resumeLength(path: StoragePath, existing: number | undefined, resumeFrom?: number): number {
  if (existing === undefined) throw new StorageError('NotFound', `nothing to resume: /${path}`, { path });
  const keep = resumeFrom ?? existing;
  if (!Number.isSafeInteger(keep) || keep < 0 || keep > existing) {
    throw new StorageError(
      'InvalidArgument',
      `cannot resume /${path} at ${keep}: the file has ${existing} bytes`,
      { path },
    );
  }
  return keep;
}
