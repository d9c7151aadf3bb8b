import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, ferryWithInput, ServeProcess, serverEnv } from '../server/serve-process.js';
import { requireBuiltCli } from '../support/cli.js';
import { eventually, Receiver } from './support.js';

/**
 * `ferry rule …` against a real `ferry serve` process: on its data folder (--data) and through
 * its REST API (--server, an admin API key); validation that names the field; the webhook secret
 * never printed; dead deliveries listed and retried.
 */
describe('ferry rule add|list|show|set|rm|deliveries|retry', () => {
  let dir: string;
  let data: string;
  let server: ServeProcess;
  let url: string;
  let key: string;
  const receiver = new Receiver();
  const env = () =>
    serverEnv({
      FERRY_ADMIN_PASSWORD: 'rules-admin-password',
      FERRY_EVENTS__POLL_MILLISECONDS: '50',
      FERRY_EVENTS__RETRY_BASE_MILLISECONDS: '50',
      FERRY_EVENTS__RETRY_MAX_MILLISECONDS: '200',
      FERRY_EVENTS__MAX_ATTEMPTS: '2',
    });

  beforeAll(async () => {
    await requireBuiltCli();
    await receiver.up();
    dir = mkdtempSync(join(tmpdir(), 'ferry-rule-cli-'));
    data = join(dir, 'ferry-data');
    server = new ServeProcess(['--http', '127.0.0.1:0', '--data', data], { cwd: dir, env: env() });
    // A generous wait: the test machine is shared and often loaded.
    url = (await server.waitFor(/http: listening on (http:\/\/\S+)/, 120_000))[1] as string;
    const made = await local(['apikey', 'add', 'ci', '--admin', 'admin', '--json']);
    expect(made.code).toBe(0);
    key = (JSON.parse(made.stdout) as { secret: string }).secret;
    const user = await local(['user', 'add', 'gus', '--password-stdin'], 'gus-password-1\n');
    expect(user.code).toBe(0);
  });
  afterAll(async () => {
    await server?.close();
    await receiver.down();
  });

  const local = (args: string[], input = '') => ferryWithInput([...args, '--data', data], input, env(), dir);
  const remote = (args: string[], input = '') =>
    ferryWithInput([...args, '--server', url, '--api-key', key], input, serverEnv(), dir);

  it('adds a rule on the data folder; show and list never print the secret', {
    timeout: 180_000,
  }, async () => {
    const add = await local(
      [
        'rule',
        'add',
        'hook',
        '--on',
        'upload,rename',
        '--path',
        '/in/**',
        '--webhook',
        receiver.url,
        '--webhook-secret-stdin',
        '--header',
        'x-team: ops',
      ],
      'cli-hook-secret\n',
    );
    expect(add.stderr).toBe('');
    expect(add.stdout).toBe('created rule hook: on upload,rename → webhook\n');
    const show = await local(['rule', 'show', 'hook', '--json']);
    const view = JSON.parse(show.stdout);
    expect(view).toMatchObject({
      name: 'hook',
      enabled: true,
      on: ['upload', 'rename'],
      filters: { paths: ['/in/**'], result: 'ok' },
      actions: [{ type: 'webhook', url: receiver.url, headers: { 'x-team': 'ops' }, secretSet: true }],
    });
    const list = await remote(['rule', 'list']);
    expect(list.stdout).toMatch(/^NAME\s+ENABLED\s+ON\s+ACTIONS\n/);
    expect(list.stdout).toMatch(/hook\s+yes\s+upload,rename\s+webhook/);
    for (const out of [show.stdout, list.stdout]) expect(out).not.toContain('cli-hook-secret');
    const rm = await local(['rule', 'rm', 'hook']);
    expect(rm.stdout).toBe('removed rule hook\n');
    expect((await local(['rule', 'list', '--json'])).stdout.trim()).toBe('[]');
  });

  it('bad rules are refused naming the field, locally and through the server', {
    timeout: 180_000,
  }, async () => {
    // Each check once, spread over both ways (a CLI start costs seconds on the loaded test machine).
    const badUrl = await local(['rule', 'add', 'bad', '--on', 'upload', '--webhook', 'ftp://x.example/']);
    expect(badUrl.code).not.toBe(0);
    expect(badUrl.stderr).toMatch(/actions\.0\.url: must be an http:\/\/ or https:\/\/ URL/);
    const badKind = await remote(['rule', 'add', 'bad', '--on', 'uplaod', '--webhook', receiver.url]);
    expect(badKind.code).not.toBe(0);
    expect(badKind.stderr).toMatch(/on\.0: /);
    const noAction = await local(['rule', 'add', 'bad', '--on', 'upload']);
    expect(noAction.stderr).toMatch(/actions: needs at least one action/);
    const relative = await remote(['rule', 'add', 'bad', '--on', 'upload', '--command', 'scan.sh {path}']);
    expect(relative.stderr).toMatch(/actions\.0\.argv: the program \(argv\[0\]\) must be an absolute path/);
    expect((await local(['rule', 'list', '--json'])).stdout.trim()).toBe('[]');
  });

  it('a dead delivery is listed with --dead and retried with ferry rule retry', {
    timeout: 180_000,
  }, async () => {
    receiver.status = 503;
    const file = join(dir, 'r.yaml');
    writeFileSync(
      file,
      `on: [upload]\nactions:\n  - type: webhook\n    url: ${receiver.url}\n    timeoutSeconds: 5\n`,
    );
    const add = await remote(['rule', 'add', 'retried', '--file', file]);
    expect(add.stderr).toBe('');
    const put = await curl([
      '-u',
      'gus:gus-password-1',
      '-T',
      file,
      `${url}/api/v1/user/files/content?path=/r.yaml`,
    ]);
    expect(put.status).toBe(201);
    let dead: { id: string; attempts: number; lastError: string; status: string }[] = [];
    await eventually(async () => {
      dead = JSON.parse((await remote(['rule', 'deliveries', '--dead', '--json'])).stdout);
      return dead.length === 1;
    }, 'one dead delivery');
    expect(dead[0]).toMatchObject({ attempts: 2, lastError: 'webhook: HTTP 503', status: 'dead' });
    const table = await local(['rule', 'deliveries', '--dead']);
    expect(table.stdout).toMatch(/ID\s+RULE\s+EVENT\s+STATUS\s+ATTEMPTS\s+NEXT\s+LAST ERROR/);
    expect(table.stdout).toContain(`${dead[0]?.id}  retried#0 webhook  upload gus /r.yaml  dead`);
    receiver.status = 200;
    const retry = await remote(['rule', 'retry', dead[0]?.id as string]);
    expect(retry.stdout).toBe(`queued delivery ${dead[0]?.id} again\n`);
    await eventually(
      async () =>
        JSON.parse((await local(['rule', 'deliveries', '--status', 'done', '--json'])).stdout).length === 1,
      'the retried delivery is done',
    );
    expect(receiver.counts().get(dead[0]?.id as string)).toBe(3);
    const again = await remote(['rule', 'retry', 'no-such-id']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/no event delivery no-such-id/);
  });

  it('ferry rule set disables a rule: its events are no longer queued', { timeout: 180_000 }, async () => {
    const set = await remote(['rule', 'set', 'retried', '--enabled', 'no']);
    expect(set.stdout).toBe('changed rule retried\n');
    const before = JSON.parse((await remote(['rule', 'deliveries', '--json'])).stdout).length;
    const put = await curl([
      '-u',
      'gus:gus-password-1',
      '-T',
      join(dir, 'r.yaml'),
      `${url}/api/v1/user/files/content?path=/r2.yaml`,
    ]);
    expect(put.status).toBe(201);
    await new Promise((r) => setTimeout(r, 500));
    expect(JSON.parse((await remote(['rule', 'deliveries', '--json'])).stdout).length).toBe(before);
  });
});
