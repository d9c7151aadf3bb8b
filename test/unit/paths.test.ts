import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/storage/errors.js';
import { isWithin, normalizePath, parentOf } from '../../src/storage/paths.js';
import { forEachConcurrent } from '../../src/util/concurrency.js';

describe('normalizePath', () => {
  it('normalises', () => {
    expect(normalizePath('')).toBe('');
    expect(normalizePath('/')).toBe('');
    expect(normalizePath('//a///b/./c/')).toBe('a/b/c');
    expect(normalizePath('cafe\u0301')).toBe('caf\u00e9');
  });
  it('rejects .., NUL and control characters', () => {
    for (const bad of ['..', 'a/..', '../a', 'a/../b', 'a\u0000b', 'a\nb', 'a\u007fb', 'a\u0085b']) {
      expect(() => normalizePath(bad), bad).toThrow(StorageError);
    }
    // Dots inside names are fine.
    expect(normalizePath('a/..b/c..')).toBe('a/..b/c..');
  });
  it('parents and containment', () => {
    expect(parentOf('a/b/c')).toBe('a/b');
    expect(parentOf('a')).toBe('');
    expect(isWithin('ab', 'a')).toBe(false);
    expect(isWithin('a/b', 'a')).toBe(true);
  });
});

describe('forEachConcurrent', () => {
  it('keeps at most `limit` calls in flight and visits every item once', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    async function* items() {
      for (let i = 0; i < 50; i++) yield i;
    }
    await forEachConcurrent(items(), 4, async (i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 1));
      seen.push(i);
      running--;
    });
    expect(peak).toBe(4);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
  it('stops pulling after the first failure and throws it', async () => {
    let pulled = 0;
    function* items() {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield i;
      }
    }
    await expect(
      forEachConcurrent(items(), 2, async (i) => {
        if (i === 5) throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(pulled).toBeLessThan(20);
  });
});
