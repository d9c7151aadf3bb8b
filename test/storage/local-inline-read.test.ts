import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { wholeBufferOf } from '../../src/storage/body.js';
import { checkedStorage } from '../../src/storage/checked.js';
import { InlineReadGate } from '../../src/storage/local/inline-read.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';
import { readAll } from '../support/collect.js';

/** LocalStorage `inlineSmallReads` (the CLI's): small whole files read with blocking calls. */
describe('local inline small reads', () => {
  it('reads small and large files, ranges, folders and missing files as the usual path does', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ferry-inline-'));
    try {
      const small = randomBytes(16 * 1024);
      const big = randomBytes(300 * 1024);
      await writeFile(join(root, 's.bin'), small);
      await writeFile(join(root, 'b.bin'), big);
      await writeFile(join(root, 'e.bin'), '');
      await mkdir(join(root, 'd'));
      const inline = checkedStorage(new LocalStorage(root, { inlineSmallReads: true }));
      const usual = checkedStorage(new LocalStorage(root));
      const s = await inline.read('s.bin');
      expect(wholeBufferOf(s)?.equals(small)).toBe(true); // taken whole by an S3 writer
      expect((await readAll(s)).equals(small)).toBe(true);
      expect(wholeBufferOf(s)).toBeUndefined(); // once read, only a stream
      const b = await inline.read('b.bin');
      expect(wholeBufferOf(b)).toBeUndefined(); // past 128 KiB: the usual file stream
      expect((await readAll(b)).equals(big)).toBe(true);
      expect((await readAll(await inline.read('e.bin'))).length).toBe(0);
      expect(
        (await readAll(await inline.read('s.bin', { offset: 10, length: 5 }))).equals(small.subarray(10, 15)),
      ).toBe(true);
      for (const st of [inline, usual]) {
        await expect(st.read('d')).rejects.toMatchObject({ code: 'IsADirectory' });
        await expect(st.read('nope.bin')).rejects.toMatchObject({ code: 'NotFound' });
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('a FIFO is not opened with a blocking call: the event loop stays free, the read goes the usual way', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ferry-inline-fifo-'));
    try {
      execFileSync('mkfifo', [join(root, 'p')]);
      const inline = new LocalStorage(root, { inlineSmallReads: true });
      const reading = inline.read('p').then(readAll);
      // The event loop is free: the writer below runs while the read waits for it.
      await writeFile(join(root, 'p'), 'through the pipe');
      // Read through to the writer's end (before session 6's review a FIFO, stat'ed 0 bytes long,
      // read as an empty body: `ferry cp <(cmd) …` wrote an empty file and said nothing).
      expect((await reading).toString()).toBe('through the pipe');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  // The gate is told wall times. Measured in a `ferry sync` of 2,000 × 16 KiB on 2 loaded cores
  // (2026-11-28, load ~20): 10 of 2,000 inline reads took over 2 ms (44 ms in all, the longest
  // 10.5 ms) — the process descheduled mid-read, not the disk (the files were cached). With a
  // budget of 50 ms for the whole run, a 10,000-file sync turned inline reads off after 779 files
  // (main's build with a counter, load 16–24).
  it('a process descheduled now and then (1 read in 200 slow) keeps reading inline over 10,000 files', () => {
    const gate = new InlineReadGate(true);
    for (let i = 1; i <= 10_000; i++) gate.record(i % 200 === 0 ? 4.4 : 0.02);
    expect(gate.blockedMs).toBeGreaterThan(200);
    expect(gate.on).toBe(true);
  });

  it('a cold disk (every read slow) turns inline reads off after ~50 ms of them', () => {
    const gate = new InlineReadGate(true);
    let reads = 0;
    while (gate.on && reads < 1000) {
      gate.record(5);
      reads++;
    }
    expect(gate.on).toBe(false);
    expect(reads).toBe(11);
    // One slow read in four is enough to count as a slow disk.
    const sometimes = new InlineReadGate(true);
    for (let i = 1; i <= 1000; i++) sometimes.record(i % 4 === 0 ? 5 : 0.02);
    expect(sometimes.on).toBe(false);
  });

  it('a storage made without inline reads never reads inline', () => {
    const gate = new InlineReadGate(false);
    gate.record(0.01);
    expect(gate.on).toBe(false);
  });
});
