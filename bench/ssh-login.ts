/**
 * The SSH transport of `ferry serve` alone (no S3): homes in a local folder (BENCH_DIR, default a
 * temp folder; use /dev/shm to take the disk out), SQLite store.
 * - Login latency, median of N connect→ready with an ssh2 Client: password (one scrypt hash),
 *   public key (signature check + key lookup), a wrong password; and OpenSSH `ssh` running one
 *   exec command (process start, handshake, key login, channel, exit) — interleaved rounds.
 * - Throughput of OpenSSH `sftp` put and get of one file (BENCH_MB, default 256) into a local home:
 *   the SSH transport plus the SFTP layer, without S3.
 * Run: npx tsx bench/ssh-login.ts [rounds=20]
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, type ConnectConfig } from 'ssh2';
import { keygen, sftpStdin, sshOptions, startLocalFerry } from './ssh-lib.js';

const run = promisify(execFile);
const rounds = Number(process.argv[2] ?? 20);
const mb = Number(process.env.BENCH_MB ?? 256);
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'ferry-ssh-bench-'));
const keyPath = keygen(join(dir, 'key'));
const password = 'bench-user-password';
const { server, port } = await startLocalFerry(dir, keyPath, { password });
const opts = sshOptions(keyPath);

function connect(config: ConnectConfig): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.on('ready', () => {
      c.end();
      resolve();
    });
    c.on('error', (err) => (config.password === 'wrong' ? resolve() : reject(err)));
    c.connect({ host: '127.0.0.1', port, username: 'bench', ...config });
  });
}

const cases: Record<string, () => Promise<unknown>> = {
  'ssh2 password': () => connect({ password }),
  'ssh2 public key': () => connect({ privateKey: readFileSync(keyPath) }),
  'ssh2 wrong password': () => connect({ password: 'wrong' }),
  'OpenSSH ssh exec': () =>
    run('ssh', [...opts, '-p', String(port), 'bench@127.0.0.1', 'sha256sum', '/missing']).catch(() => {}),
};
const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i <= rounds; i++) {
  const entries = Object.entries(cases);
  for (const [k, f] of [...entries.slice(i % entries.length), ...entries.slice(0, i % entries.length)]) {
    const t = performance.now();
    await f();
    if (i > 0) times[k]?.push(performance.now() - t); // round 0 warms up
  }
}
console.log(
  `ssh login (${rounds} rounds, median ms; the successful logins between wrong ones reset the defender)`,
);
for (const [k, v] of Object.entries(times)) {
  const sorted = v.sort((a, b) => a - b);
  console.log(`  ${k.padEnd(22)} ${(sorted[Math.floor(sorted.length / 2)] ?? Number.NaN).toFixed(1)}`);
}

const file = join(dir, 'upload.bin');
writeFileSync(file, randomBytes(mb * 1024 * 1024));
const sftp = async (commands: string) => {
  const t = performance.now();
  await sftpStdin(opts, port, commands, dir);
  return (mb / ((performance.now() - t) / 1000)).toFixed(0);
};
console.log(`sftp put ${mb} MiB to a local home: ${await sftp('put upload.bin /u.bin\n')} MiB/s`);
console.log(`sftp get ${mb} MiB from a local home: ${await sftp('get /u.bin down.bin\n')} MiB/s`);
await server.stop(0);
rmSync(dir, { recursive: true, force: true });
