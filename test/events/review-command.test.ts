import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/events/actions/command.js';
import type { ActionContext } from '../../src/events/actions/template.js';
import { commandActionSchema } from '../../src/events/model.js';

const ctx: ActionContext = {
  deliveryId: 'd-1',
  rule: 'r',
  event: {
    kind: 'upload',
    username: 'alice',
    protocol: 'sftp',
    remote: '127.0.0.1',
    path: '/a;b $(touch x)\n-rf',
    bytes: 3,
    durationMs: 1,
    result: 'ok',
    at: new Date().toISOString(),
    node: 'n',
  },
};

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('review: the command action', () => {
  it('a command that succeeds but prints more than a MiB is delivered, not failed and run again', async () => {
    const action = commandActionSchema.parse({
      type: 'command',
      argv: ['/bin/sh', '-c', 'head -c 3000000 /dev/zero; exit 0'],
    });
    await expect(runCommand(action, ctx)).resolves.toBeUndefined();
  });

  it('a timeout kills what the command started too, not only the command', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-review-cmd-'));
    const pidFile = join(dir, 'pid');
    const action = commandActionSchema.parse({
      type: 'command',
      // The child leaves its stdio so the callback is not held up; only the group kill reaches it.
      argv: ['/bin/sh', '-c', `sleep 300 </dev/null >/dev/null 2>&1 & echo $! > ${pidFile}; wait`],
      timeoutSeconds: 1,
    });
    await expect(runCommand(action, ctx)).rejects.toThrow(/killed after 1 s/);
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(pid).toBeGreaterThan(0);
    // SIGKILL is delivered synchronously to the group; give the kernel a moment to reap.
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    const survived = alive(pid);
    if (survived) process.kill(pid, 'SIGKILL');
    expect(survived).toBe(false);
  });

  it('the server environment does not reach the command', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-review-env-'));
    const out = join(dir, 'env');
    process.env.AWS_SECRET_ACCESS_KEY = 'leak-check';
    process.env.FERRY_SMTP__PASSWORD = 'leak-check';
    try {
      const action = commandActionSchema.parse({ type: 'command', argv: ['/bin/sh', '-c', `env > ${out}`] });
      await runCommand(action, ctx);
      const env = readFileSync(out, 'utf8');
      expect(env).not.toContain('leak-check');
      expect(env).toContain('FERRY_EVENT_PATH=/a;b $(touch x)');
    } finally {
      delete process.env.AWS_SECRET_ACCESS_KEY;
      delete process.env.FERRY_SMTP__PASSWORD;
    }
  });
});
