import { afterAll, describe, expect, it } from 'vitest';
import { suiteFixture } from '../support/suite.js';

describe('suiteFixture (test/support/suite.ts)', () => {
  let closed = 0;
  afterAll(() => {
    // The inner block's hooks have all run by now: its fixture was closed, once.
    expect(closed).toBe(1);
  });

  describe('a block with a fixture', () => {
    let early: unknown;
    const rig = suiteFixture(async () => ({ answer: 42, close: async () => void closed++ }));
    try {
      void rig.answer; // read while the describe body runs: before beforeAll
    } catch (err) {
      early = err;
    }

    it('reads the opened value once beforeAll has made it; a read before that is an error', () => {
      expect(rig.answer).toBe(42);
      expect(closed).toBe(0);
      expect((early as Error).message).toMatch(/answer read before beforeAll/);
    });
  });
});
