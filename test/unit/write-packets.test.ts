import type { SFTPWrapper } from 'ssh2';
import { describe, expect, it } from 'vitest';
import { interceptWrites } from '../../src/protocols/sftp/write-packets.js';

/**
 * The join buffers of src/protocols/sftp/write-packets.ts (a WRITE whose data spans SSH packets is
 * joined in a 256 KiB buffer) are kept for reuse by the whole process, not two per channel: 20
 * channels each kept two — 10 MiB outside the buffer budget — while most of them were paused
 * waiting for memory (docs/notes/issue-9.md "Session 7: memory").
 */

const KiB = 1024;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** A WRITE of `size` bytes on handle "h", as two SSH packets (so it is joined in a buffer). */
function splitWrite(id: number, size: number): [Buffer, Buffer] {
  const handle = Buffer.from('h');
  const body = Buffer.concat([
    Buffer.from([6]),
    u32(id),
    u32(handle.length),
    handle,
    Buffer.alloc(8),
    u32(size),
    Buffer.alloc(size, id & 0xff),
  ]);
  const whole = Buffer.concat([u32(body.length), body]);
  return [whole.subarray(0, 32 * KiB), whole.subarray(32 * KiB)];
}

/** A channel after INIT (`_version` set): its WRITEs go to `writes` with their release. */
function channel() {
  const writes: { data: Buffer; release: () => void }[] = [];
  const fake = {
    _version: 3,
    outgoing: { state: 'open' },
    push: (_data: Buffer | null) => undefined as unknown,
  };
  interceptWrites(fake as unknown as SFTPWrapper, (_id, _handle, _offset, data, release) =>
    writes.push({ data, release }),
  );
  return { send: (b: Buffer) => fake.push(b), writes };
}

describe('WRITE join buffers (issue 9: memory)', () => {
  it('are shared by the channels of the process, and at most 8 are kept when none is in use', () => {
    const channels = Array.from({ length: 20 }, channel);
    // One channel after the other: each takes the buffer the last one gave back.
    const used = new Set<ArrayBufferLike>();
    for (const [i, c] of channels.entries()) {
      for (const piece of splitWrite(i + 1, 255 * KiB)) c.send(piece);
      expect(c.writes).toHaveLength(1);
      expect(c.writes[0]!.data.length).toBe(255 * KiB);
      expect(c.writes[0]!.data[0]).toBe((i + 1) & 0xff);
      used.add(c.writes[0]!.data.buffer);
      c.writes.pop()!.release();
    }
    expect(used.size).toBe(1);

    // All 20 at once, then all given back: the next round finds at most 8 of them kept.
    const round = () => {
      for (const [i, c] of channels.entries())
        for (const piece of splitWrite(i + 1, 255 * KiB)) c.send(piece);
      const buffers = channels.map((c) => c.writes[0]!.data.buffer);
      for (const c of channels) c.writes.pop()!.release();
      return buffers;
    };
    const first = new Set(round());
    expect(first.size).toBe(20);
    const reused = round().filter((b) => first.has(b)).length;
    expect(reused).toBeGreaterThan(0);
    expect(reused).toBeLessThanOrEqual(8);
  });

  it('a channel still holds at most two 256 KiB buffers at a time (tiny WRITEs get their own size)', () => {
    const c = channel();
    for (let i = 1; i <= 4; i++) for (const piece of splitWrite(i, 40 * KiB)) c.send(piece);
    expect(c.writes.map((w) => w.data.buffer.byteLength >= 255 * KiB)).toEqual([true, true, false, false]);
    for (const w of c.writes) w.release();
  });
});
