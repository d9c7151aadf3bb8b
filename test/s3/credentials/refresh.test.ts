import { describe, expect, it } from 'vitest';
import { refreshing } from '../../../src/s3/credentials/refresh.js';
import type { AwsCredentials } from '../../../src/s3/credentials/types.js';

/** A source whose credentials live `lifetime` ms on a hand-driven clock. */
function source(clock: { t: number }, lifetime: number) {
  let n = 0;
  const calls: number[] = [];
  const fail = { on: false };
  const fetch = async (): Promise<AwsCredentials> => {
    calls.push(clock.t);
    if (fail.on) throw new Error('source down');
    n++;
    return { accessKeyId: `K${n}`, secretAccessKey: 's', expiration: new Date(clock.t + lifetime) };
  };
  return { fetch, calls, fail };
}

describe('refreshing credentials', () => {
  it('renews at min(5 min, half the lifetime) before expiry, not before', async () => {
    const clock = { t: 1_000_000 };
    const s = source(clock, 3600_000);
    const p = refreshing(s.fetch, { now: () => clock.t });
    expect((await p()).accessKeyId).toBe('K1');
    clock.t += 3600_000 - 300_001; // 5 min + 1 ms before expiry: still held
    expect((await p()).accessKeyId).toBe('K1');
    clock.t += 2; // inside the 5-minute window: renewed
    expect((await p()).accessKeyId).toBe('K2');
    expect(s.calls).toHaveLength(2);
  });

  it('short-lived credentials renew at half their lifetime', async () => {
    const clock = { t: 0 };
    const s = source(clock, 4000);
    const p = refreshing(s.fetch, { now: () => clock.t });
    await p();
    clock.t = 1999;
    expect((await p()).accessKeyId).toBe('K1');
    clock.t = 2000;
    expect((await p()).accessKeyId).toBe('K2');
  });

  it('concurrent callers share one renewal', async () => {
    const clock = { t: 0 };
    const s = source(clock, 1000);
    const p = refreshing(s.fetch, { now: () => clock.t });
    const all = await Promise.all(Array.from({ length: 20 }, () => p()));
    expect(new Set(all.map((c) => c.accessKeyId))).toEqual(new Set(['K1']));
    expect(s.calls).toHaveLength(1);
    expect(p.fetches).toBe(1);
  });

  it('a failed renewal keeps the old credentials while they are valid, then fails', async () => {
    const clock = { t: 0 };
    const s = source(clock, 1000);
    const p = refreshing(s.fetch, { now: () => clock.t });
    await p();
    s.fail.on = true;
    clock.t = 700; // in the renewal window, not expired
    expect((await p()).accessKeyId).toBe('K1');
    clock.t = 1000; // expired
    await expect(p()).rejects.toThrow('source down');
    s.fail.on = false;
    expect((await p()).accessKeyId).toBe('K2');
  });

  it('credentials without expiry are fetched once', async () => {
    let n = 0;
    const p = refreshing(async () => ({ accessKeyId: `K${++n}`, secretAccessKey: 's' }));
    await p();
    await p();
    expect(n).toBe(1);
  });
});
