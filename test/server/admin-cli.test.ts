import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli } from '../support/cli.js';
import { TEST_BUCKET, testS3 } from '../support/s3.js';
import { ferryWithInput, serverEnv } from './serve-process.js';

/**
 * The admin CLI on a data folder without a server: connections (secrets sealed, never shown),
 * mounts, admins, groups, API keys, SSH keys from a file, and its refusals.
 */
describe('ferry connection|mount|admin|group|apikey on --data', () => {
  let dir: string;
  let data: string;
  const env = () =>
    serverEnv({ AWS_ACCESS_KEY_ID: testS3().accessKeyId, AWS_SECRET_ACCESS_KEY: testS3().secretAccessKey });
  const cli = (args: string[], input = '') => ferryWithInput([...args, '--data', data], input, env(), dir);

  beforeAll(async () => {
    await requireBuiltCli();
    dir = mkdtempSync(join(tmpdir(), 'ferry-admin-'));
    data = join(dir, 'fd');
    mkdirSync(data);
  });

  it('refuses a data folder that does not exist, naming --data', async () => {
    const r = await ferryWithInput(['user', 'list', '--data', join(dir, 'nope')], '', env(), dir);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('--data: no Ferry data folder');
  });

  it('a connection takes its keys from the environment, seals them, and never shows them', async () => {
    const add = await cli(['connection', 'add', 'files', `s3://${TEST_BUCKET}/some/prefix`]);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const show = await cli(['connection', 'show', 'files', '--json']);
    const view = JSON.parse(show.stdout);
    expect(view.settings).toMatchObject({
      bucket: TEST_BUCKET,
      prefix: 'some/prefix',
      endpoint: testS3().endpoint,
    });
    expect(view.secretsSet).toEqual(['secretAccessKey']);
    const list = await cli(['connection', 'list']);
    for (const out of [show.stdout, list.stdout]) expect(out).not.toContain(testS3().secretAccessKey);
    expect(list.stdout).toMatch(/files\s+ferry-test\s+http/);
    const set = await cli(['connection', 'set', 'files', '--show-partial-uploads', 'yes']);
    expect(set.code).toBe(0);
    expect(JSON.parse((await cli(['connection', 'show', 'files', '--json'])).stdout).showPartialUploads).toBe(
      true,
    );
  });

  it('groups, users with SSH keys from a file, mounts', async () => {
    const keyFile = join(dir, 'id.pub');
    writeFileSync(
      keyFile,
      '# my keys\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGn1Yx0qLZ8fS3kYyF2vXy2m0m7c9u7Yx0qLZ8fS3kYy me@host\n',
    );
    expect(
      (await cli(['group', 'add', 'staff', '--home', 'files:staff/%username%', '--quota-files', '100'])).code,
    ).toBe(0);
    const g = JSON.parse((await cli(['group', 'show', 'staff', '--json'])).stdout);
    expect(g.home).toEqual({ type: 's3', connection: 'files', prefix: 'staff/%username%' });
    const add = await cli(
      ['user', 'add', 'gina', '--ssh-key', keyFile, '--group', 'staff', '--password-stdin'],
      'gina-pw-123\n',
    );
    expect(add.stderr).toBe('');
    const u = JSON.parse((await cli(['user', 'show', 'gina', '--json'])).stdout);
    expect(u.sshKeys).toHaveLength(1);
    expect(u.sshKeys[0]).toMatch(/^ssh-ed25519 AAAA/);
    const m = await cli([
      'mount',
      'add',
      '/archive',
      '/srv/archive',
      '--group',
      'staff',
      '--read-only',
      '--json',
    ]);
    expect(m.stderr).toBe('');
    const mount = JSON.parse(m.stdout);
    expect(mount).toMatchObject({
      path: '/archive',
      readOnly: true,
      target: { type: 'local', path: '/srv/archive' },
    });
    expect((await cli(['mount', 'list', '--group', 'staff'])).stdout).toContain('/srv/archive');
    expect((await cli(['mount', 'set', mount.id, '--read-only', 'no'])).code).toBe(0);
    expect(JSON.parse((await cli(['mount', 'show', mount.id, '--json'])).stdout).readOnly).toBe(false);
    expect((await cli(['mount', 'rm', mount.id])).code).toBe(0);
    const missing = await cli(['mount', 'add', '/x', 'nosuch:p', '--user', 'gina']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('no connection named nosuch');
    const both = await cli(['mount', 'add', '/x', '/srv/x']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--user or --group');
  });

  it('admins and API keys: passwords from stdin, roles, the secret shown once', async () => {
    const add = await cli(
      ['admin', 'add', 'ops', '--password-stdin', '--role', 'viewer'],
      'ops-password-1\n',
    );
    expect(add.stdout).toContain('created admin ops (viewer)');
    expect((await cli(['admin', 'set', 'ops', '--role', 'manager'])).code).toBe(0);
    expect(JSON.parse((await cli(['admin', 'show', 'ops', '--json'])).stdout).role).toBe('manager');
    const bad = await cli(['admin', 'add', 'weak', '--password', 'short']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('password');
    const key = await cli(['apikey', 'add', 'robot', '--user', 'gina']);
    const secret = /secret \(shown once, keep it\): (\S+)/.exec(key.stdout)?.[1];
    expect(secret).toMatch(/^ferry_/);
    const id = /created API key (\S+)/.exec(key.stdout)?.[1] as string;
    const shown = await cli(['apikey', 'show', id]);
    expect(shown.stdout).toContain('robot');
    expect(shown.stdout).not.toContain(secret as string);
    expect((await cli(['apikey', 'rm', id])).code).toBe(0);
    expect((await cli(['apikey', 'show', id])).code).toBe(3);
    expect((await cli(['admin', 'rm', 'ops'])).code).toBe(0);
  });
});
