import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT } from '../../src/util/gc-tuning.js';

/**
 * The limit V8 sets after a full collection, as its own trace prints it (--trace-gc-verbose:
 * "[HeapController] Limit: old size: … KB, new limit: … KB (factor)"), in a node process that
 * applies Ferry's tuning (the built dist/, as `ferry` runs) and then collects once.
 */
function limitFactors(env: NodeJS.ProcessEnv): number[] {
  const mod = resolve('dist/util/gc-tuning.js');
  const script = `import { tuneGc } from ${JSON.stringify(mod)};
    tuneGc();
    const live = Array.from({ length: 1e6 }, (_, i) => ({ i }));
    gc();
    console.log(live.length);`;
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--trace-gc-verbose', '--input-type=module', '-e', script],
    {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return [...out.matchAll(/\[HeapController\] Limit: .*\(([\d.]+)\)/g)].map((m) => Number(m[1]));
}

describe('GC tuning of Ferry processes (util/gc-tuning.ts)', () => {
  it('the old generation may grow to twice what a Mark-Compact left, whatever V8 would pick', () => {
    // V8's own factor depends on its GC and allocation speeds (1.1 when the old generation grows
    // slowly, as in a transfer: ~8 MB of room, a Mark-Compact every 0.3–1 s of an SFTP download).
    const tuned = limitFactors({ FERRY_HEAP_GROWING_PERCENT: '' });
    expect(tuned.length).toBeGreaterThan(0);
    for (const f of tuned) expect(f).toBe(1 + HEAP_GROWING_PERCENT / 100);
  });

  it('FERRY_HEAP_GROWING_PERCENT overrides it', () => {
    const factors = limitFactors({ FERRY_HEAP_GROWING_PERCENT: '50' });
    expect(factors.length).toBeGreaterThan(0);
    for (const f of factors) expect(f).toBe(1.5);
  });
});
