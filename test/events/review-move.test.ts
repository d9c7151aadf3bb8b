import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StorageTarget } from '../../src/accounts/model.js';
import type { EffectiveUser } from '../../src/accounts/types.js';
import { copyAction } from '../../src/events/actions/copy.js';
import type { ActionContext } from '../../src/events/actions/template.js';
import { copyActionSchema } from '../../src/events/model.js';
import { LocalStorage } from '../../src/storage/local/local-storage.js';

/** A careless rule: move every upload "to" the place it already is. The file must survive. */
describe('review: a move onto the file itself', () => {
  const root = mkdtempSync(join(tmpdir(), 'ferry-review-move-'));
  const user: EffectiveUser = {
    username: 'alice',
    enabled: true,
    home: { type: 'local', path: join(root, 'alice') },
    permissions: { '/': ['*' as never] },
    mounts: [],
    quota: {},
    bandwidth: {},
    allowedIps: [],
    deniedIps: [],
    setstatMode: 'ignore',
  };
  const deps = {
    effective: async () => user,
    storage: async (t: StorageTarget) => new LocalStorage((t as { path: string }).path),
  };
  const ctx: ActionContext = {
    deliveryId: 'd-1',
    rule: 'archive',
    event: {
      kind: 'upload',
      username: 'alice',
      protocol: 'sftp',
      remote: '127.0.0.1',
      path: '/in/report.csv',
      bytes: 5,
      durationMs: 1,
      result: 'ok',
      at: new Date().toISOString(),
      node: 'n',
    },
  };

  it('the same folder and path: refused, the file is kept', async () => {
    mkdirSync(join(root, 'alice', 'in'), { recursive: true });
    const file = join(root, 'alice', 'in', 'report.csv');
    writeFileSync(file, 'hello');
    const action = copyActionSchema.parse({
      type: 'move',
      to: { type: 'local', path: join(root, 'alice') },
      path: '{path}',
    });
    await expect(copyAction(action, ctx, deps)).rejects.toThrow(/itself/);
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('hello');
  });

  it('the parent folder with the user in the path: the same file, refused, kept', async () => {
    const file = join(root, 'alice', 'in', 'report.csv');
    writeFileSync(file, 'hello');
    const action = copyActionSchema.parse({
      type: 'move',
      to: { type: 'local', path: root },
      path: '{username}{path}',
    });
    await expect(copyAction(action, ctx, deps)).rejects.toThrow(/itself/);
    expect(readFileSync(file, 'utf8')).toBe('hello');
  });
});
