import { describe, expect, it } from 'vitest';
import { partSpillAfterMs } from '../../src/storage/s3/part-spill.js';

/** FERRY_PART_SPILL_MS: how long a write handle is idle before its part may spill (part-spill.ts). */
describe('FERRY_PART_SPILL_MS', () => {
  it('unset or empty: 1000 ms; a whole number: that many, 0 included (at once)', () => {
    expect(partSpillAfterMs({})).toBe(1000);
    expect(partSpillAfterMs({ FERRY_PART_SPILL_MS: '' })).toBe(1000);
    expect(partSpillAfterMs({ FERRY_PART_SPILL_MS: '0' })).toBe(0);
    expect(partSpillAfterMs({ FERRY_PART_SPILL_MS: '250' })).toBe(250);
  });

  it('anything else is refused, naming the variable and the value', () => {
    for (const value of ['-5', '-0', 'abc', '1.5', '1e3', '10s', '0x10', '99999999999']) {
      expect(() => partSpillAfterMs({ FERRY_PART_SPILL_MS: value })).toThrow(
        `FERRY_PART_SPILL_MS=${value} is not a whole number of milliseconds`,
      );
    }
  });
});
