import type { Attributes, SFTPWrapper } from 'ssh2';
import { StorageError } from '../../storage/errors.js';
import { type LentBytes, lendBytes } from '../../storage/read-handle.js';
import type { Entry } from '../../storage/types.js';
import { attrsOf, dateOf, longname } from './attrs.js';
import { ReplyWindow, sendData } from './data-reply.js';
import { ADVERTISED, handleExtended, MAX_HANDLES } from './extensions.js';
import { type DirState, HandleTable, type ReadState, type WriteState } from './handles.js';
import { virtualPath } from './paths.js';
import { replyError, SFTP_STATUS, unsupported } from './status.js';
import type { ServeSftp, SshChannelContext } from './types.js';
import { tightMemory } from './window.js';
import { advertiseExtensions, inboundGate, onWindow, queuedBytes, sendExitStatus } from './wire.js';
import { interceptWrites } from './write-packets.js';

/** OPEN pflags (SFTP v3). READ|WRITE needs nothing more: READ on a write handle reads through it. */
const WRITE = 0x02;
const APPEND = 0x04;
const CREAT = 0x08;
const TRUNC = 0x10;
const EXCL = 0x20;

/**
 * Bytes of WRITEs received but not yet taken by their handles, per channel, above which the
 * client is made to wait (no more channel window), and below which it may send again. OpenSSH
 * keeps up to 64 × 255 KiB (16 MiB) in flight; a handle takes a WRITE at once (a copy into its
 * part buffer) unless it waits for S3 or for budget, so only then does this fill. These bytes are
 * also charged to the process budget (`ctx.memory`), and while that is full every channel
 * holding some pauses (but one with several write handles open: `checkGate`): all channels
 * together stay within the budget (and PAUSE_AT for each of those) whatever this is. (A 4 MiB
 * pause point was tried: one 1 GiB upload ran at a third of `aws s3 cp` against two thirds before,
 * at load ~28: the part being filled waited on the client's round trips.)
 */
const PAUSE_AT = 32 * 1024 * 1024;

/**
 * A NAME reply stops growing past this many bytes: clients refuse messages past 256 KiB
 * (OpenSSH's SFTP_MAX_MSG_LENGTH; Go's pkg/sftp the same), whatever `readdirBatch` says.
 */
const NAME_BYTES = 128 * 1024;
/** Per entry besides its name and longname: two lengths, the attributes' flags and values. */
const NAME_ENTRY_BYTES = 4 + 4 + 4 + 28;
const RESUME_AT = 16 * 1024 * 1024;

/**
 * Bytes of READ replies asked for and not yet sent (being read, queued in ssh2 for want of
 * window, or in the connection's socket for want of the client reading) per channel, above which
 * the channel's next requests wait unparsed (wire.ts `inboundGate`), as OpenSSH's sftp-server
 * reads no request while its output queue is full. OpenSSH's client keeps 64 READs of 32 KiB
 * (2 MiB) in flight; without this a client that sends READs and reads no reply had every reply
 * kept in memory (2 MiB of window is ~60,000 READs; a client may grant 4 GiB of window).
 */
const READ_HOLD_AT = 8 * 1024 * 1024;

/**
 * Serve SFTP v3 on one channel: every request becomes a Session call with the client's path
 * (made absolute by `virtualPath`; the session resolves it: chroot, mounts, permissions). Requests
 * are answered as each finishes, never one after another: OpenSSH keeps 64 READs or WRITEs in
 * flight, a read handle serves ranges concurrently, and a write handle queues writes in call order
 * itself. When the channel ends every write handle still open is aborted (no object, no multipart
 * upload), read handles and listings are closed.
 */
export const serveSftp: ServeSftp = (ctx, sftp) => {
  new SftpChannel(ctx, sftp).start();
};

export class SftpChannel {
  readonly table = new HandleTable(MAX_HANDLES);
  private readonly ended = new AbortController();
  /** Aborted when the channel ends: open write handles abort, reads in flight stop. */
  readonly signal = this.ended.signal;
  private gate: { pause(): void; resume(): void; release(): void } | undefined;
  private pending = 0;
  /** Bytes of READ replies asked for and not yet handed to ssh2 (READ_HOLD_AT). */
  private replying = 0;
  /** Paused because the process budget is full: waiting for `memory.onRoom`. */
  private awaitingRoom = false;
  /** READ replies wait here for the client's window to hold them whole. */
  private readonly window: ReplyWindow;

  constructor(
    readonly ctx: SshChannelContext,
    readonly sftp: SFTPWrapper,
  ) {
    this.window = new ReplyWindow(sftp, this.signal);
  }

  start(): void {
    const { sftp } = this;
    advertiseExtensions(sftp, ADVERTISED);
    // WRITEs parsed before ssh2 sees them (their data joined without a new buffer each); a
    // malformed one still goes to ssh2, which refuses it or emits WRITE as it always did.
    interceptWrites(sftp, (id, handle, offset, data, release) =>
      this.write(id, handle, offset, data, release),
    );
    this.gate = inboundGate(
      sftp,
      () => this.holdRequests(),
      // The window is 256 KiB at most while part buffers are waited for or the budget is full
      // (window.ts): what a channel paused for memory may still receive. 20 uploads on 128 MiB
      // paused with up to 2 MiB each still to come (docs/notes/issue-9.md "Session 6: memory").
      () => tightMemory(this.ctx.memory),
    );
    onWindow(
      sftp,
      () => {
        this.window.wake();
        this.gate?.release();
      },
      // The socket drained: held requests may go on. Replies wait for window, not for this.
      () => this.gate?.release(),
    );
    // ssh2's fatal SFTP error (a malformed packet): it closes the channel; what was open on it
    // is aborted now, not once the client answers the close (nothing more is read: write-packets.ts).
    sftp.on('error', (err: Error) => {
      this.ctx.logger.debug({ err: err.message }, 'sftp channel error');
      void this.end();
    });
    sftp.on('end', () => void this.end());
    sftp.on('close', () => void this.end());
    sftp.on('OPEN', (id, filename, flags, attrs) =>
      this.run(id, () => this.open(id, filename, flags, attrs)),
    );
    sftp.on('READ', (id, handle, offset, len) => this.readInOrder(id, handle, offset, len));
    sftp.on('WRITE', (id, handle, offset, data) => this.write(id, handle, offset, data));
    sftp.on('CLOSE', (id, handle) => this.run(id, () => this.close(id, handle)));
    sftp.on('FSTAT', (id, handle) => this.run(id, () => this.fstat(id, handle)));
    sftp.on('STAT', (id, path) => this.run(id, () => this.stat(id, path)));
    sftp.on('LSTAT', (id, path) => this.run(id, () => this.stat(id, path)));
    sftp.on('FSETSTAT', (id, handle, attrs) =>
      this.run(id, async () => {
        const state = this.state(handle);
        if (state.kind === 'dir') await this.setAttrs(state.path, undefined, attrs);
        else await this.setAttrs(state.path, state.kind === 'write' ? state : undefined, attrs);
        this.ok(id);
      }),
    );
    sftp.on('SETSTAT', (id, path, attrs) =>
      this.run(id, async () => {
        const p = virtualPath(path);
        await this.setAttrs(p, this.table.writing(p), attrs);
        this.ok(id);
      }),
    );
    sftp.on('OPENDIR', (id, path) => this.run(id, () => this.opendir(id, path)));
    sftp.on('READDIR', (id, handle) => this.run(id, () => this.readdir(id, handle)));
    sftp.on('REALPATH', (id, path) =>
      this.run(id, async () => {
        const p = virtualPath(path);
        sftp.name(id, [{ filename: p, longname: p, attrs: {} as Attributes }]);
      }),
    );
    sftp.on('REMOVE', (id, path) =>
      this.run(id, () => this.session.remove(virtualPath(path)).then(() => this.ok(id))),
    );
    sftp.on('RMDIR', (id, path) =>
      this.run(id, () => this.session.rmdir(virtualPath(path)).then(() => this.ok(id))),
    );
    sftp.on('MKDIR', (id, path) =>
      this.run(id, () => this.session.mkdir(virtualPath(path)).then(() => this.ok(id))),
    );
    sftp.on('RENAME', (id, from, to) =>
      this.run(id, async () => {
        // SFTP v3 RENAME fails when the target exists; posix-rename@openssh.com replaces.
        await this.session.rename(virtualPath(from), virtualPath(to), {
          replace: false,
          signal: this.signal,
        });
        this.ok(id);
      }),
    );
    sftp.on('READLINK', (id) => this.run(id, async () => Promise.reject(unsupported('symbolic links are'))));
    sftp.on('SYMLINK', (id) => this.run(id, async () => Promise.reject(unsupported('symbolic links are'))));
    sftp.on('EXTENDED', (id, name, data) => this.run(id, () => handleExtended(this, id, name, data)));
  }

  get session() {
    return this.ctx.session;
  }

  ok(id: number): void {
    this.sftp.status(id, SFTP_STATUS.OK);
  }

  /** Run a request; a failure becomes its status (status.ts: the one mapping). */
  run(id: number, fn: () => Promise<unknown>): void {
    fn().catch((err: unknown) => replyError(this.sftp, id, err, this.ctx.logger));
  }

  /** The open handle `handle`, or FAILURE "invalid handle" (as OpenSSH answers). */
  state(handle: Buffer) {
    const s = this.table.get(handle);
    if (!s) throw new StorageError('InvalidArgument', 'invalid handle');
    return s;
  }

  private async open(id: number, filename: string, flags: number, attrs: Attributes): Promise<void> {
    const path = virtualPath(filename);
    if (!(flags & WRITE)) {
      const handle = await this.session.openRead(path, { signal: this.signal });
      return this.addHandle(id, { kind: 'read', path, handle }, () => handle.close());
    }
    const mode: WriteState['mode'] =
      // EXCL counts only with CREAT, as in open(2).
      flags & EXCL && flags & CREAT
        ? 'exclusive'
        : flags & TRUNC
          ? 'truncate'
          : flags & APPEND
            ? 'append'
            : 'update';
    // Without CREAT the file must be there already (open(2) without O_CREAT).
    if (!(flags & CREAT)) {
      const existing = await this.session.stat(path, { signal: this.signal });
      if (existing.type === 'dir') throw new StorageError('IsADirectory', `is a folder: ${path}`);
    }
    const handle = await this.session.openWrite(path, {
      mode,
      mtime: typeof attrs.mtime === 'number' ? dateOf(attrs.mtime) : undefined,
      idleTimeoutMs:
        this.ctx.options.writeIdleTimeoutMs > 0 ? this.ctx.options.writeIdleTimeoutMs : undefined,
      signal: this.signal,
    });
    const state: WriteState = { kind: 'write', path, handle, mode, end: 0, appendAt: handle.startOffset };
    return this.addHandle(id, state, () => handle.abort());
  }

  /** Register an opened handle and answer with it; undone when the channel ended meanwhile. */
  private async addHandle(
    id: number,
    state: ReadState | WriteState | DirState,
    undo: () => Promise<unknown>,
  ): Promise<void> {
    const handle = this.signal.aborted ? undefined : this.table.add(state);
    if (!handle) {
      await undo().catch(() => {});
      throw new StorageError('Transient', `too many open handles on this channel (at most ${MAX_HANDLES})`);
    }
    this.sftp.handle(id, handle);
  }

  /** Per open handle: the reply of its last READ (see `readInOrder`). */
  private readonly readReplies = new WeakMap<object, Promise<void>>();

  /**
   * READs of one handle run concurrently, but their replies go out in the order the requests
   * came, as OpenSSH's sftp-server answers them: OpenSSH's client, copying in place (scp's default
   * SFTP mode), keeps only the part that arrived in order and truncates the file there when
   * replies come reordered — a 100 MB `scp` download ended at 16 MB, exit status 0.
   */
  private readInOrder(id: number, handle: Buffer, offset: number, len: number): void {
    const s = this.table.get(handle);
    const promised = Math.min(len, this.ctx.options.maxReadLength);
    this.replying += promised;
    const bytes = this.read(handle, offset, len);
    const previous = (s && this.readReplies.get(s)) ?? Promise.resolve();
    const reply = previous.then(() =>
      bytes.then(
        async (lent) => {
          try {
            if (lent.bytes.length === 0) this.sftp.status(id, SFTP_STATUS.EOF);
            else {
              await this.window.fits(lent.bytes.length);
              sendData(this.sftp, id, lent.bytes);
            }
          } finally {
            lent.release();
          }
        },
        (err: unknown) => replyError(this.sftp, id, err, this.ctx.logger),
      ),
    );
    const sent = () => {
      this.replying -= promised;
      this.gate?.release();
    };
    reply.then(sent, sent);
    if (s) this.readReplies.set(s, reply);
  }

  /** Whether the client's next request waits: too many READ replies not yet sent (READ_HOLD_AT). */
  private holdRequests(): boolean {
    if (this.replying > READ_HOLD_AT) return true;
    return this.replying + queuedBytes(this.sftp) > READ_HOLD_AT;
  }

  /** A READ's bytes, lent by the handle where it can (released once the reply is written). */
  private async read(handle: Buffer, offset: number, len: number): Promise<LentBytes> {
    const s = this.state(handle);
    const length = Math.min(len, this.ctx.options.maxReadLength);
    if (s.kind === 'read') return lendBytes(s.handle, offset, length, { signal: this.signal });
    if (s.kind === 'write' && s.handle.read)
      return { bytes: await s.handle.read(offset, length), release: () => {} };
    if (s.kind === 'write') throw unsupported('reading a file opened for writing (without update) is');
    throw new StorageError('IsADirectory', `is a folder: ${s.path}`);
  }

  /** `release`: `data` may be reused once the handle took it (or refused it). */
  private write(id: number, handle: Buffer, offset: number, data: Buffer, release?: () => void): void {
    const s = this.table.get(handle);
    if (s?.kind !== 'write' || s.copied) {
      release?.();
      const why = s ? 'not open for writing' : 'invalid handle';
      replyError(this.sftp, id, new StorageError('InvalidArgument', why), this.ctx.logger);
      return;
    }
    let at = offset;
    if (s.mode === 'append') {
      at = s.appendAt;
      s.appendAt += data.length;
    }
    s.end = Math.max(s.end, at + data.length);
    this.pending += data.length;
    const uncharge = this.ctx.memory?.charge(data.length);
    this.checkGate();
    const settled = () => {
      release?.();
      this.pending -= data.length;
      uncharge?.();
      this.checkGate();
    };
    s.handle.write(at, data).then(
      () => {
        settled();
        this.ok(id);
      },
      (err: unknown) => {
        settled();
        replyError(this.sftp, id, err, this.ctx.logger);
      },
    );
  }

  /**
   * Pause the client's flow past PAUSE_AT bytes held here, or while the process budget is full
   * and bytes wait here (their handle waits for budget or S3); resume below RESUME_AT (or once
   * the budget has room). A channel holding nothing is never paused for the budget: its handle
   * takes what comes (it may hold the very part buffer that spends the budget, which only more
   * bytes from this client can fill and send). Nor is one with several write handles open: one
   * of them may hold such a part buffer while another waits for budget, and pausing the channel
   * for the waiting one starved the holder of the bytes that would fill and send its part — both
   * hung until the idle timeout aborted them (test/sftp/sftp-review-budget.test.ts). Such a
   * channel pauses at PAUSE_AT only: its bytes waiting here may pass the budget by that much.
   */
  private checkGate(): void {
    const memory = this.ctx.memory;
    const full = this.pending > 0 && memory?.full === true && !this.table.severalWriting();
    if (this.pending > PAUSE_AT || full) {
      this.gate?.pause();
      if (full && !this.awaitingRoom) {
        this.awaitingRoom = true;
        memory.onRoom(() => {
          this.awaitingRoom = false;
          if (!this.signal.aborted) this.checkGate();
        });
      }
    } else if (this.pending < RESUME_AT) this.gate?.resume();
  }

  private async close(id: number, handle: Buffer): Promise<void> {
    const s = this.table.remove(handle);
    if (!s) throw new StorageError('InvalidArgument', 'invalid handle');
    if (s.kind === 'write') {
      // OK only once the file is whole in storage (an error: nothing was stored).
      if (!s.copied) await s.handle.close();
    } else if (s.kind === 'read') await s.handle.close();
    else await s.entries.return?.();
    this.ok(id);
  }

  private async stat(id: number, path: string): Promise<void> {
    this.sftp.attrs(id, attrsOf(await this.session.stat(virtualPath(path), { signal: this.signal })));
  }

  private async fstat(id: number, handle: Buffer): Promise<void> {
    const s = this.state(handle);
    if (s.kind === 'read') return this.sftp.attrs(id, attrsOf(s.handle.entry));
    if (s.kind === 'dir') return this.stat(id, s.path);
    const size = await this.writeSize(s);
    this.sftp.attrs(id, attrsOf({ type: 'file', size, mtime: new Date() }));
  }

  /** The size of the file a write handle is making, as it stands now. */
  private async writeSize(s: WriteState): Promise<number> {
    if (s.copied) return s.copied.size;
    let size = Math.max(s.end, s.handle.startOffset, s.appendAt);
    if (s.mode === 'update' && !s.truncated) {
      // The existing bytes count too (one stat: FSTAT/SETSTAT size on such a handle are rare).
      const existing = await this.session.stat(s.path).catch(() => undefined);
      if (existing?.type === 'file') size = Math.max(size, existing.size);
    }
    return size;
  }

  /**
   * SETSTAT/FSETSTAT. Size: only "what it is already" (or 0 on a new write with nothing written)
   * is accepted, S3 cannot truncate in place. Mode/owner: the user's `setstatMode` (ignore or
   * refuse). Times: on a file being written the mtime goes with the upload (no extra copy);
   * otherwise `setModTime`.
   */
  private async setAttrs(path: string, writing: WriteState | undefined, attrs: Attributes): Promise<void> {
    if (typeof attrs.size === 'number') {
      const current = writing
        ? await this.writeSize(writing)
        : (await this.session.stat(path, { signal: this.signal })).size;
      const fresh =
        writing && writing.end === 0 && (writing.mode === 'truncate' || writing.mode === 'exclusive');
      if (attrs.size !== current && !(attrs.size === 0 && fresh)) {
        // An `update` handle (OPEN without TRUNC; OpenSSH scp overwrites in place, then cuts the
        // old tail this way) changes its size in order with its writes; other size changes stay
        // unsupported (a closed S3 object can't be cut in place).
        if (!writing?.handle.truncate || writing.copied) throw unsupported("changing a file's size is");
        await writing.handle.truncate(attrs.size);
        writing.end = attrs.size;
        writing.truncated = true;
      }
    }
    if (typeof attrs.mode === 'number' || typeof attrs.uid === 'number' || typeof attrs.gid === 'number')
      await this.session.setMode(path);
    if (typeof attrs.mtime === 'number') {
      const mtime = dateOf(attrs.mtime);
      if (writing && !writing.copied) await writing.handle.setAttributes({ mtime });
      else await this.session.setModTime(path, mtime, { signal: this.signal });
    }
  }

  private async opendir(id: number, path: string): Promise<void> {
    const p = virtualPath(path);
    const entries = this.session.list(p, { signal: this.signal })[Symbol.asyncIterator]();
    // The first entry now, so that a missing folder, a file or a refusal fail OPENDIR itself.
    const first = await entries.next();
    const state: DirState = {
      kind: 'dir',
      path: p,
      entries,
      pending: first.done ? undefined : first.value,
      dotsSent: false,
      done: first.done === true,
      queue: Promise.resolve(),
    };
    return this.addHandle(id, state, async () => entries.return?.());
  }

  private async readdir(id: number, handle: Buffer): Promise<void> {
    const s = this.state(handle);
    if (s.kind !== 'dir') throw new StorageError('NotADirectory', `not a folder: ${s.path}`);
    const next = s.queue.then(() => this.readdirBatch(id, s));
    s.queue = next.catch(() => {});
    await next;
  }

  /**
   * One NAME reply: up to `readdirBatch` entries and NAME_BYTES bytes, or fewer when the listing
   * has to wait for S3 (its next page) and some are at hand: those go at once, so the client sees
   * the first entries before the whole folder is listed and works on them while the next page
   * comes (it asks again at once; that READDIR waits for the page). Fewer, bigger replies cost
   * fewer round trips: OpenSSH sends its next READDIR only after the reply to the last.
   */
  private async readdirBatch(id: number, s: DirState): Promise<void> {
    const owner = this.session.user.username;
    const names: { filename: string; longname: string; attrs: Attributes }[] = [];
    let bytes = 0;
    const add = (e: Pick<Entry, 'type' | 'size' | 'mtime'>, name: string) => {
      const line = longname(e, name, owner);
      names.push({ filename: name, longname: line, attrs: attrsOf(e) });
      bytes += NAME_ENTRY_BYTES + Buffer.byteLength(name) + Buffer.byteLength(line);
    };
    if (!s.dotsSent) {
      s.dotsSent = true;
      const dir = { type: 'dir' as const, size: 0, mtime: new Date(0) };
      add(dir, '.');
      add(dir, '..');
    }
    if (s.pending) {
      add(s.pending, s.pending.name);
      s.pending = undefined;
    }
    const batch = this.ctx.options.readdirBatch;
    // Entries of a page already in memory come through promise jobs alone, within this turn of
    // the event loop; one that needs the next S3 page does not, and the turn ends first.
    let turn = turnEnd();
    while (!s.done && names.length < batch && bytes < NAME_BYTES) {
      const next = s.next ?? s.entries.next();
      s.next = undefined;
      let r: IteratorResult<Entry>;
      if (names.length > 0) {
        const got = await Promise.race([next, turn]);
        if (got === TURN_ENDED) {
          s.next = next; // the next READDIR takes it
          break;
        }
        r = got;
      } else {
        r = await next;
        turn = turnEnd();
      }
      if (r.done) s.done = true;
      else add(r.value, r.value.name);
    }
    if (names.length === 0) this.sftp.status(id, SFTP_STATUS.EOF);
    else this.sftp.name(id, names);
  }

  /** The channel ended: abort what is being written, close what is being read or listed. */
  private async end(): Promise<void> {
    if (this.signal.aborted) return;
    this.ended.abort(new StorageError('InvalidArgument', 'the SFTP channel closed'));
    this.window.wake();
    // The client sent EOF (OpenSSH at the end of a batch) or closed: close our side too, or it
    // waits for our CHANNEL_CLOSE forever. Exit status 0 first, as sftp-server gives (scp needs it).
    sendExitStatus(this.sftp, 0);
    this.sftp.end();
    await Promise.all(
      this.table.drain().map(async (s) => {
        if (s.kind === 'write') await s.handle.abort();
        else if (s.kind === 'read') await s.handle.close().catch(() => {});
        else await s.entries.return?.(undefined)?.catch?.(() => {});
      }),
    );
  }
}

const TURN_ENDED = Symbol('turn ended');

/** Resolves once the event loop has run every promise job queued now (at its check phase). */
function turnEnd(): Promise<typeof TURN_ENDED> {
  return new Promise((resolve) => setImmediate(() => resolve(TURN_ENDED)));
}
