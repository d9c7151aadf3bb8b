import type { WriteHandle } from '../../storage/handles.js';
import type { ReadHandle } from '../../storage/read-handle.js';
import type { Entry } from '../../storage/types.js';

/** A file opened for reading (OPEN with READ only). */
export interface ReadState {
  kind: 'read';
  /** The client's path, as it sent it. */
  path: string;
  handle: ReadHandle;
}

/** A file opened for writing (OPEN with WRITE): the session's write handle. */
export interface WriteState {
  kind: 'write';
  path: string;
  handle: WriteHandle;
  mode: 'truncate' | 'exclusive' | 'append' | 'update';
  /** Highest byte written + 1 (0: nothing written yet). */
  end: number;
  /** APPEND: where the next WRITE lands (SFTP's APPEND ignores the request's offset, as O_APPEND). */
  appendAt: number;
  /** `update`: FSETSTAT/SETSTAT size cut or grew the file: its size is `end` (no old bytes past it). */
  truncated?: boolean;
  /** `copy-data` replaced the handle's content with a server-side copy: CLOSE has nothing to do. */
  copied?: Entry;
}

/** A folder opened by OPENDIR: the session's listing, read page by page by READDIR. */
export interface DirState {
  kind: 'dir';
  path: string;
  entries: AsyncIterator<Entry>;
  /** An entry taken from the listing but not sent yet (OPENDIR reads one to fail early). */
  pending: Entry | undefined;
  dotsSent: boolean;
  done: boolean;
  /** The listing's next entry, asked for but not there yet when the last NAME reply went out. */
  next?: Promise<IteratorResult<Entry>>;
  /** READDIRs on one handle run one after another (they share the listing). */
  queue: Promise<unknown>;
}

export type HandleState = ReadState | WriteState | DirState;

/**
 * The handles of one SFTP channel: 4-byte ids (never reused within the channel) → what is open.
 * `drain` empties the table when the channel ends, so the caller can abort or close everything.
 */
export class HandleTable {
  private readonly open = new Map<number, HandleState>();
  private next = 1;

  constructor(readonly max: number) {}

  get size(): number {
    return this.open.size;
  }

  /** A new handle for `state`, or undefined when the channel already holds `max`. */
  add(state: HandleState): Buffer | undefined {
    if (this.open.size >= this.max) return undefined;
    const id = this.next++;
    this.open.set(id, state);
    const buf = Buffer.allocUnsafe(4);
    buf.writeUInt32BE(id, 0);
    return buf;
  }

  get(handle: Buffer): HandleState | undefined {
    if (handle.length !== 4) return undefined;
    return this.open.get(handle.readUInt32BE(0));
  }

  /** Take `handle` out of the table (CLOSE): later requests on it are refused. */
  remove(handle: Buffer): HandleState | undefined {
    const state = this.get(handle);
    if (state) this.open.delete(handle.readUInt32BE(0));
    return state;
  }

  /** The open write handle of `path` on this channel, if any (SETSTAT on a file being uploaded). */
  writing(path: string): WriteState | undefined {
    for (const s of this.open.values()) if (s.kind === 'write' && s.path === path && !s.copied) return s;
    return undefined;
  }

  /** Whether more than one write handle is open (a `copy-data` one, done already, not counted). */
  severalWriting(): boolean {
    let n = 0;
    for (const s of this.open.values()) if (s.kind === 'write' && !s.copied && ++n > 1) return true;
    return false;
  }

  /** Everything still open, taken out of the table. */
  drain(): HandleState[] {
    const all = [...this.open.values()];
    this.open.clear();
    return all;
  }
}
