import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/db/database.js';
import { sessionFor, tempStore, userWith } from './support.js';

describe('session write handles: idle timeout, client signal, one event each (local storage)', () => {
  let store: Store;
  let dir: string;

  beforeAll(async () => {
    ({ store, dir } = await tempStore());
  });
  afterAll(() => store?.close());

  it('an idle handle is aborted: nothing stored, the slot freed, one upload event', async () => {
    const home = join(dir, 'idle');
    const { session, events } = sessionFor(userWith({ home: { type: 'local', path: home } }), { store });
    const h = await session.openWrite('/idle.txt', { idleTimeoutMs: 150 });
    await h.write(0, Buffer.from('partial'));
    await sleep(500);
    expect(session.openWrites).toBe(0);
    await expect(h.write(7, Buffer.from('more'))).rejects.toThrow(/without a call/);
    await expect(h.close()).rejects.toThrow(/without a call/);
    expect(existsSync(join(home, 'idle.txt'))).toBe(false);
    expect(readdirSync(home)).toEqual([]); // no partial file left either
    const uploads = events.filter((e) => e.kind === 'upload');
    expect(uploads).toHaveLength(1);
    expect(uploads[0]).toMatchObject({ path: '/idle.txt', bytes: 7, result: 'InvalidArgument' });
  });

  it("the client's signal aborts the handle", async () => {
    const home = join(dir, 'signal');
    const { session, events, ledger } = sessionFor(
      userWith({ username: 'sig', home: { type: 'local', path: home } }),
      {
        store,
      },
    );
    const ac = new AbortController();
    const h = await session.openWrite('/s.txt', { signal: ac.signal });
    await h.write(0, Buffer.from('x'));
    ac.abort();
    await sleep(50);
    expect(session.openWrites).toBe(0);
    await expect(h.close()).rejects.toThrow(/client went away/);
    expect(existsSync(join(home, 's.txt'))).toBe(false);
    expect(events.filter((e) => e.kind === 'upload')).toHaveLength(1);
    expect(await ledger.usage('sig')).toEqual({ bytes: 0, files: 0 });
  });

  it('a handle that closes is charged once and emits one event', async () => {
    const home = join(dir, 'ok');
    const { session, events, ledger } = sessionFor(
      userWith({ username: 'ok', home: { type: 'local', path: home } }),
      {
        store,
      },
    );
    const h = await session.openWrite('/w.txt', { idleTimeoutMs: 5000 });
    await h.write(3, Buffer.from('def'));
    await h.write(0, Buffer.from('abc'));
    const entry = await h.close();
    expect(entry).toMatchObject({ path: 'w.txt', size: 6 });
    await expect(h.close()).rejects.toThrow(/closed/);
    expect(events.filter((e) => e.kind === 'upload')).toMatchObject([{ result: 'ok', bytes: 6 }]);
    expect(await ledger.usage('ok')).toEqual({ bytes: 6, files: 1 });
  });

  it('close() ends downloads under way and open read handles', async () => {
    const home = join(dir, 'reads');
    const { session, events } = sessionFor(
      userWith({ username: 'rd', home: { type: 'local', path: home } }),
      {
        store,
      },
    );
    await session.write('/big.bin', Buffer.alloc(8 * 1024 * 1024, 7));
    const stream = await session.read('/big.bin');
    const handle = await session.openRead('/big.bin');
    const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
    expect(first.length).toBeGreaterThan(0);
    stream.pause();
    const ended = new Promise<unknown>((resolve) => stream.once('error', resolve));
    await session.close();
    expect(String(await ended)).toMatch(/session closed/);
    await expect(handle.read(0, 10)).rejects.toThrow(/closed/);
    expect(events.filter((e) => e.kind === 'download').map((e) => e.result)).toEqual(['ok', 'Transient']);
  });
});
