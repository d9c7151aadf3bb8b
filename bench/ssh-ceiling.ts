/**
 * The SFTP ceiling on this machine, side by side with Ferry: OpenSSH `sftp -b` put and get of one
 * file (BENCH_MB, default 512) over loopback into
 *  - a bare ssh2 SFTP server (this file: ~60 lines over node:fs, `setNoDelay(true)`, Ferry's
 *    algorithm list, no session, no checks) — what ssh2 + Node can do here;
 *  - `ferry serve` in-process with a local home (startServer, SQLite store): the SSH transport,
 *    the SFTP layer and the session, without S3.
 * Rounds are interleaved (ceiling, ferry, ceiling, ferry…) so both see the same machine; prints
 * each round and the medians, and Ferry / ceiling. BENCH_DIR (default a temp folder; use /dev/shm
 * to take the disk out) holds the files. BENCH_ONLY=ceiling|ferry runs one side.
 * Run: BENCH_DIR=/dev/shm npx tsx bench/ssh-ceiling.ts [rounds=3]
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  read,
  rmSync,
  statSync,
  write,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { sshAlgorithms } from '../src/protocols/sftp/server.js';
import { median } from './bench-lib.js';
import { keygen, sftpStdin, sshOptions, startLocalFerry } from './ssh-lib.js';

const { Server, utils } = ssh2;
const STATUS = utils.sftp.STATUS_CODE;
const rounds = Number(process.argv[2] ?? 3);
const mb = Number(process.env.BENCH_MB ?? 512);
const only = process.env.BENCH_ONLY;
const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'ferry-ssh-ceiling-'));
const keyPath = keygen(join(dir, 'key'));
const opts = sshOptions(keyPath);

/** The bare server: any user, any key; paths are taken under `root` as given. */
async function startBare(root: string): Promise<{ port: number; close(): void }> {
  mkdirSync(root, { recursive: true });
  const hostKey = utils.generateKeyPairSync('ed25519').private;
  const ssh = new Server({ hostKeys: [hostKey], algorithms: sshAlgorithms }, (client) => {
    client.on('authentication', (ctx) => ctx.accept());
    client.on('session', (accept) => {
      accept().on('sftp', (acceptSftp) => {
        const sftp = acceptSftp();
        // The client's EOF ends the session: close our side (OpenSSH waits for it).
        sftp.on('end', () => sftp.end());
        const fds = new Map<number, number>();
        let next = 1;
        const handle = (n: number) => {
          const b = Buffer.alloc(4);
          b.writeUInt32BE(n);
          return b;
        };
        sftp.on('REALPATH', (id, p) => sftp.name(id, [{ filename: p, longname: p, attrs: {} as never }]));
        const stat = (id: number, p: string) => {
          try {
            const st = statSync(join(root, p));
            sftp.attrs(id, { mode: st.mode, uid: 0, gid: 0, size: st.size, atime: 0, mtime: 0 });
          } catch {
            sftp.status(id, STATUS.NO_SUCH_FILE);
          }
        };
        sftp.on('STAT', stat);
        sftp.on('LSTAT', stat);
        sftp.on('OPEN', (id, p, flags) => {
          const fd = openSync(join(root, p), flags & 0x02 ? 'w' : 'r');
          fds.set(next, fd);
          sftp.handle(id, handle(next++));
        });
        sftp.on('FSTAT', (id, h) => {
          const st = fstatSync(fds.get(h.readUInt32BE(0)) as number);
          sftp.attrs(id, { mode: st.mode, uid: 0, gid: 0, size: st.size, atime: 0, mtime: 0 });
        });
        sftp.on('FSETSTAT', (id) => sftp.status(id, STATUS.OK));
        sftp.on('READ', (id, h, offset, len) => {
          const buf = Buffer.allocUnsafe(len);
          read(fds.get(h.readUInt32BE(0)) as number, buf, 0, len, offset, (err, n) => {
            if (err) sftp.status(id, STATUS.FAILURE);
            else if (n === 0) sftp.status(id, STATUS.EOF);
            else sftp.data(id, buf.subarray(0, n));
          });
        });
        sftp.on('WRITE', (id, h, offset, data) => {
          write(fds.get(h.readUInt32BE(0)) as number, data, 0, data.length, offset, (err) =>
            sftp.status(id, err ? STATUS.FAILURE : STATUS.OK),
          );
        });
        sftp.on('CLOSE', (id, h) => {
          const n = h.readUInt32BE(0);
          closeSync(fds.get(n) as number);
          fds.delete(n);
          sftp.status(id, STATUS.OK);
        });
      });
    });
  });
  const listener = createServer({ noDelay: true }, (socket) => {
    socket.setNoDelay(true);
    ssh.injectSocket(socket);
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as { port: number }).port;
  return { port, close: () => listener.close() };
}

async function startFerry(): Promise<{ port: number; close(): Promise<void> }> {
  // FERRY_SFTP__* settings (e.g. FERRY_SFTP__MAX_READ_LENGTH) pass through to the server.
  const settings = Object.entries(process.env).filter(([k]) => k.startsWith('FERRY_SFTP__'));
  const { server, port } = await startLocalFerry(dir, keyPath, {
    env: Object.fromEntries(settings) as Record<string, string>,
  });
  return { port, close: () => server.stop(0) };
}

/** Server CPU (this process: user + system) per MiB moved, by server and direction. */
const cpuPerMiB: Record<string, number[]> = {};

/** MiB/s of one `sftp -b` batch moving `mb` MiB; records the server's CPU ms per MiB under `label`. */
async function sftp(port: number, commands: string, label: string): Promise<number> {
  const t = performance.now();
  const cpu = process.cpuUsage();
  await sftpStdin(opts, port, commands, dir);
  const used = process.cpuUsage(cpu);
  cpuPerMiB[label] = [...(cpuPerMiB[label] ?? []), (used.user + used.system) / 1000 / mb];
  return mb / ((performance.now() - t) / 1000);
}

writeFileSync(join(dir, 'upload.bin'), randomBytes(mb * 1024 * 1024));
const servers: Record<string, number> = {};
const closers: (() => unknown)[] = [];
if (only !== 'ferry') {
  const bare = await startBare(join(dir, 'bare'));
  servers.ceiling = bare.port;
  closers.push(bare.close);
}
if (only !== 'ceiling') {
  const ferry = await startFerry();
  servers.ferry = ferry.port;
  closers.push(ferry.close);
}
const figures: Record<string, { put: number[]; get: number[] }> = {};
for (let i = 0; i < rounds; i++) {
  for (const [name, port] of Object.entries(servers)) {
    const f = figures[name] ?? { put: [], get: [] };
    figures[name] = f;
    const put = await sftp(port, 'put upload.bin /u.bin\n', `${name} put`);
    const get = await sftp(port, 'get /u.bin down.bin\n', `${name} get`);
    f.put.push(put);
    f.get.push(get);
    console.log(`round ${i + 1} ${name.padEnd(8)} put ${put.toFixed(0)} MiB/s  get ${get.toFixed(0)} MiB/s`);
    rmSync(join(dir, 'down.bin'), { force: true });
  }
}
console.log(`medians of ${rounds} (${mb} MiB, OpenSSH sftp over loopback):`);
for (const [name, f] of Object.entries(figures))
  console.log(
    `  ${name.padEnd(8)} put ${median(f.put).toFixed(0)} MiB/s  get ${median(f.get).toFixed(0)} MiB/s`,
  );
console.log('server CPU ms per MiB (user + system of the server process; robust to load, unlike MiB/s):');
for (const [label, v] of Object.entries(cpuPerMiB))
  console.log(`  ${label.padEnd(13)} ${median(v).toFixed(2)}`);
if (figures.ceiling && figures.ferry)
  console.log(
    `  ferry / ceiling: put ${(median(figures.ferry.put) / median(figures.ceiling.put)).toFixed(2)}×  get ${(median(figures.ferry.get) / median(figures.ceiling.get)).toFixed(2)}×`,
  );
for (const close of closers) await close();
rmSync(dir, { recursive: true, force: true });
