import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { positionalSourceOf } from '../../src/s3/file-source.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';

async function drain(source: NonNullable<ReturnType<typeof positionalSourceOf>>, step: number) {
  const out: Buffer[] = [];
  for (let pos = 0; ; ) {
    const b = Buffer.alloc(step);
    const n = await source.read(b, 0, step, pos);
    if (n === 0) return Buffer.concat(out);
    out.push(b.subarray(0, n));
    pos += n;
  }
}

describe('positionalSourceOf (direct file reads for the upload engine)', () => {
  it('reads the same bytes as the stream would, whole or a range', async () => {
    const dir = await fs.mkdtemp(join(tmpdir(), 'ferry-fsrc-'));
    try {
      const data = randomBytes(300_000);
      await fs.writeFile(join(dir, 'f.bin'), data);
      const local = new LocalStorage(dir);
      const whole = await local.read('f.bin');
      const src = positionalSourceOf(whole);
      expect(src).toBeDefined();
      expect((await drain(src!, 65_536)).equals(data)).toBe(true);
      whole.destroy();

      const range = await local.read('f.bin', { offset: 1000, length: 70_000 });
      const part = positionalSourceOf(range);
      expect((await drain(part!, 30_000)).equals(data.subarray(1000, 71_000))).toBe(true);
      range.destroy();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('leaves other bodies and already-started file streams to the streaming path', async () => {
    expect(positionalSourceOf(Readable.from([Buffer.from('x')]))).toBeUndefined();
    expect(positionalSourceOf(Buffer.from('x'))).toBeUndefined();
    const dir = await fs.mkdtemp(join(tmpdir(), 'ferry-fsrc-'));
    try {
      await fs.writeFile(join(dir, 'f.bin'), randomBytes(200_000));
      const s = await new LocalStorage(dir).read('f.bin');
      await new Promise((r) => s.once('readable', r));
      s.read(10);
      expect(positionalSourceOf(s)).toBeUndefined();
      s.destroy();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
