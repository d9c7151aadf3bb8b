import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadServerConfig } from '../../src/server/config.js';
import { configReference } from '../../src/server/config-schema.js';
import { requireBuiltCli } from '../support/cli.js';
import { ferryWithInput, serverEnv } from './serve-process.js';

/** Configuration errors name the key and where it came from (file, environment, flag), and nothing starts. */
describe('ferry serve configuration', () => {
  beforeAll(requireBuiltCli);

  const serve = (
    args: string[],
    env: Record<string, string> = {},
    cwd = mkdtempSync(join(tmpdir(), 'ferry-cfg-')),
  ) => ferryWithInput(['serve', ...args], '', serverEnv(env), cwd).then((r) => ({ ...r, cwd }));

  it('a bad value in --config FILE names the file and the key; unknown keys are errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-cfg-'));
    writeFileSync(join(dir, 'server.yaml'), 'http: nope\nhtpp: 127.0.0.1:1\ndefender:\n  banSecs: 3\n');
    const r = await serve(['--config', 'server.yaml'], {}, dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('server.yaml: http: must be host:port');
    expect(r.stderr).toContain('server.yaml: htpp: unknown setting');
    expect(r.stderr).toContain('server.yaml: defender.banSecs: unknown setting');
    expect(existsSync(join(dir, 'ferry-data'))).toBe(false);
  });

  it('<data>/ferry.yaml is read when it exists', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-cfg-'));
    mkdirSync(join(dir, 'ferry-data'));
    writeFileSync(join(dir, 'ferry-data', 'ferry.yaml'), 'shutdownGraceSeconds: soon\n');
    const r = await serve([], {}, dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ferry.yaml: shutdownGraceSeconds: must be a whole number');
  });

  it('a bad FERRY_* variable is named, nested keys use __; a secret value is never echoed', async () => {
    const r = await serve([], {
      FERRY_HTTP: 'localhost',
      FERRY_DEFENDER__MAX_FAILURES: '0',
      FERRY_SECRET_KEY: 'not-a-key-but-a-secret-all-the-same',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('FERRY_HTTP: must be host:port');
    expect(r.stderr).toContain('FERRY_DEFENDER__MAX_FAILURES:');
    expect(r.stderr).toContain('FERRY_SECRET_KEY: must be 32 bytes');
    expect(r.stderr).not.toContain('not-a-key-but-a-secret');
    expect(existsSync(join(r.cwd, 'ferry-data'))).toBe(false);
  });

  it('a too short FERRY_ADMIN_PASSWORD is named, and not echoed', async () => {
    const r = await serve(['--http', '127.0.0.1:0'], { FERRY_ADMIN_PASSWORD: 'shorty' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/FERRY_ADMIN_PASSWORD: .*8 characters/);
    expect(r.stderr).not.toContain('shorty');
  });

  it('a bad flag is named as the flag', async () => {
    const r = await serve(['--http', '127.0.0.1:99999', '--log-level', 'loud']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--http: port must be 0–65535');
    expect(r.stderr).toContain('--log-level:');
  });

  it('precedence: flags > environment > file > defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-cfg-'));
    writeFileSync(
      join(dir, 'f.yaml'),
      'http: 127.0.0.1:1001\nshutdownGraceSeconds: 5\nlogLevel: warn\ndefender:\n  banSeconds: 60\n',
    );
    const env = {
      FERRY_HTTP: '127.0.0.1:1002',
      FERRY_SHUTDOWN_GRACE_SECONDS: '6',
      FERRY_DEFENDER__MAX_FAILURES: '9',
    };
    const c = loadServerConfig({ config: 'f.yaml', http: '127.0.0.1:1003' }, env, dir);
    expect(c.listen.http).toEqual({ host: '127.0.0.1', port: 1003 });
    expect(c.shutdownGraceSeconds).toBe(6);
    expect(c.logLevel).toBe('warn');
    expect(c.defender).toEqual({ maxFailures: 9, windowSeconds: 300, banSeconds: 60 });
    expect(c.data).toBe(join(dir, 'ferry-data'));
    expect(c.database).toBe(join(dir, 'ferry-data', 'ferry.db'));
    expect(c.storage).toEqual({ type: 'local', path: join(dir, 'ferry-data', 'files') });
    const d = loadServerConfig(
      { storage: 'archive:users/', data: 'd' },
      { FERRY_DATABASE: 'postgres://u:p@h/db' },
      dir,
    );
    expect(d.storage).toEqual({ type: 'connection', name: 'archive', prefix: 'users/' });
    expect(d.database).toBe('postgres://u:p@h/db');
    expect(loadServerConfig({ storage: 's3://b/p' }, {}, dir).storage).toEqual({
      type: 's3',
      url: 's3://b/p',
    });
    expect(loadServerConfig({}, { FERRY_TRUST_PROXY: 'true' }, dir).trustProxy).toBe(true);
    expect(loadServerConfig({ trustProxy: '10.0.0.0/8,10.1.2.3' }, {}, dir).trustProxy).toBe(
      '10.0.0.0/8,10.1.2.3',
    );
    expect(loadServerConfig({}, {}, dir).trustProxy).toBe(false);
    // Not addresses: named with the variable, not silently something else ("1" is not one hop,
    // it would trust the address 0.0.0.1; "yes" failed later with "invalid IP address: yes").
    for (const bad of ['yes', '1', '10.0.0.0/8,nope', '10.0.0.0/99']) {
      expect(() => loadServerConfig({}, { FERRY_TRUST_PROXY: bad }, dir), bad).toThrow(
        /FERRY_TRUST_PROXY: must be true, false, or addresses\/ranges/,
      );
    }
    expect(loadServerConfig({ trustProxy: '::1, 192.168.0.0/16' }, {}, dir).trustProxy).toBe(
      '::1, 192.168.0.0/16',
    );
  });

  it('memoryBudgetBytes (the transfer memory budget) from the file, FERRY_MEMORY_BUDGET_BYTES or --memory-budget-bytes; below 16 MiB is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-cfg-'));
    writeFileSync(join(dir, 'f.yaml'), 'memoryBudgetBytes: 134217728\n');
    expect(loadServerConfig({ config: 'f.yaml' }, {}, dir).memoryBudgetBytes).toBe(128 * 1024 * 1024);
    expect(loadServerConfig({}, { FERRY_MEMORY_BUDGET_BYTES: '67108864' }, dir).memoryBudgetBytes).toBe(
      64 * 1024 * 1024,
    );
    expect(
      loadServerConfig({ memoryBudgetBytes: '33554432' }, { FERRY_MEMORY_BUDGET_BYTES: '67108864' }, dir)
        .memoryBudgetBytes,
    ).toBe(32 * 1024 * 1024);
    expect(loadServerConfig({}, {}, dir).memoryBudgetBytes).toBeUndefined(); // the process default
    expect(() => loadServerConfig({}, { FERRY_MEMORY_BUDGET_BYTES: '1000' }, dir)).toThrow(
      /FERRY_MEMORY_BUDGET_BYTES: must be at least 16777216 bytes/,
    );
  });

  it('docs/server.md lists every setting with its variable and default', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../docs/server.md'), 'utf8');
    for (const r of configReference()) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${r.key}\` |`));
      expect(row, r.key).toBeDefined();
      expect(row).toContain(`\`${r.env}\``);
      if (r.default) expect(row).toContain(`\`${r.default}\``);
    }
  });
});

describe('ferry serve listen errors', () => {
  it('an address in use is named with the key to change', async () => {
    const { createServer } = await import('node:net');
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    try {
      const cwd = mkdtempSync(join(tmpdir(), 'ferry-cfg-'));
      const r = await ferryWithInput(['serve', '--http', `127.0.0.1:${port}`], '', serverEnv(), cwd);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`http: 127.0.0.1:${port} is already in use (choose another with --http)`);
    } finally {
      busy.close();
    }
  });
});
