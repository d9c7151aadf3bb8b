import { describe, expect, it } from 'vitest';
import { commandActionSchema } from '../../src/events/model.js';
import { EventRecorder } from '../../src/events/recorder.js';
import type { Rule } from '../../src/events/rules.js';
import type { SessionEvent } from '../../src/session/types.js';

/** A rule on every successful upload (of members of `groups`, if any) running /bin/true. */
function uploadRule(name: string, groups: string[]): Rule {
  return {
    name,
    enabled: true,
    on: ['upload'],
    filters: { users: [], groups, paths: [], result: 'ok' },
    actions: [commandActionSchema.parse({ type: 'command', argv: ['/bin/true'] })],
  };
}

/** A successful one-byte upload of `path` by `username` over HTTP, now. */
function uploadBy(username: string, path: string): SessionEvent {
  return {
    kind: 'upload',
    username,
    protocol: 'http',
    remote: '127.0.0.1',
    path,
    bytes: 1,
    durationMs: 1,
    result: 'ok',
    at: new Date(),
  } as SessionEvent;
}

/** The store is down: matched events are held in memory, but not without limit. */
describe('review: the recorder while the store is down', () => {
  it('holds at most maxBuffered rows and says how many it dropped', async () => {
    const rule = uploadRule('r', []);
    const errors: string[] = [];
    const recorder = new EventRecorder({
      queue: { add: () => Promise.reject(new Error('store down')) },
      loadRules: async () => [rule],
      groupsOf: async () => [],
      node: 'n',
      batchMs: 1,
      maxBuffered: 10,
      onError: (err) => errors.push((err as Error).message),
    });
    await recorder.reload();
    for (let i = 0; i < 50; i++) {
      recorder.listener(uploadBy('u', `/f${i}`));
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(recorder.buffered).toBeLessThanOrEqual(10);
    expect(errors.some((m) => /dropped/.test(m))).toBe(true);
    await recorder.stop();
  });
});

describe('review: a group filter while the accounts lookup fails', () => {
  it('a lookup that fails for a moment does not lose the event of a member', async () => {
    const rule = uploadRule('members', ['ops']);
    let calls = 0;
    const added: unknown[] = [];
    const recorder = new EventRecorder({
      queue: {
        add: async (rows) => {
          added.push(...rows);
        },
      },
      loadRules: async () => [rule],
      groupsOf: async () => {
        calls++;
        if (calls < 3) throw new Error('store busy');
        return ['ops'];
      },
      node: 'n',
      batchMs: 1,
      onError: () => {},
    });
    await recorder.reload();
    recorder.listener(uploadBy('u', '/f'));
    await recorder.stop();
    expect(added).toHaveLength(1);
  });

  it('a lookup that keeps failing is reported, not silent', async () => {
    const rule = uploadRule('members', ['ops']);
    const errors: string[] = [];
    const recorder = new EventRecorder({
      queue: { add: async () => {} },
      loadRules: async () => [rule],
      groupsOf: () => Promise.reject(new Error('store down')),
      node: 'n',
      batchMs: 1,
      onError: (err) => errors.push((err as Error).message),
    });
    await recorder.reload();
    recorder.listener(uploadBy('u', '/f'));
    await recorder.stop();
    expect(errors.join('\n')).toMatch(/members.*store down|store down.*members/);
  });
});
