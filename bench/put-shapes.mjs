// What one small PUT costs the store, by request shape (issue 11): COUNT × SIZE bytes PUT with a
// plain node:http client and Ferry's SigV4 (dist/s3/sigv4.js; no SDK, no Ferry layers), one
// variant after another into fresh prefixes of one bucket, each variant ROUNDS times in
// alternation (the order turned by one each round). Per row: wall, this process's CPU, RGW's and the OSD's CPU (/proc/<pid>/stat
// utime + stime) per PUT. The variants change one thing each against "ferry": the shape Ferry's
// lean PUT (src/s3/small-object.ts) sends for a `ferry sync` upload — signed payload SHA-256,
// Content-Type, x-amz-meta-mtime and x-amz-meta-ferry-sha256, 64 in flight, kept-alive sockets.
// Usage: RGW_BASE=/tmp/ferry-rgw-dev node bench/put-shapes.mjs [COUNT] [ROUNDS] [variant,…]
// (source $RGW_BASE/rgw.env first, or let bench/put-shapes.sh do it). Build dist/ first.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import { signV4 } from '../dist/s3/sigv4.js';

const COUNT = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 2);
const SIZE = Number(process.env.SIZE ?? 16384);
const base = process.env.RGW_BASE ?? '/tmp/ferry-rgw-dev';
const endpoint = new URL(process.env.S3_ENDPOINT ?? 'http://127.0.0.1:17480');
const creds = {
  accessKeyId: process.env.AWS_ACCESS_KEY_ID,
  secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
};
const region = process.env.AWS_REGION ?? 'us-east-1';
const rgwPid = readFileSync(`${base}/cluster/run/ceph-client.rgw.a.pid`, 'utf8').trim();
const osdPid = readFileSync(`${base}/cluster/run/ceph-osd.0.pid`, 'utf8').trim();
const ticks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
};

/** Each variant: what it changes against Ferry's shape. */
const VARIANTS = {
  ferry: {},
  'no-meta': { meta: false },
  'no-ctype': { ctype: false },
  unsigned: { unsigned: true },
  'content-md5': { md5: true },
  'unsigned-md5': { unsigned: true, md5: true },
  'in-flight-16': { inflight: 16 },
  'in-flight-32': { inflight: 32 },
  'in-flight-128': { inflight: 128 },
  'no-keep-alive': { keepAlive: false },
  'one-meta': { meta: false, oneMeta: true },
};
const names = process.argv[4] ? process.argv[4].split(',') : Object.keys(VARIANTS);
const bodies = Array.from({ length: 64 }, () => randomBytes(SIZE));
const bucket = `bench-putshapes-${process.pid}`;

function request(method, path, headers, body, agent) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { hostname: endpoint.hostname, port: endpoint.port, method, path, headers, agent },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode < 300 ? resolve() : reject(new Error(`${method} ${path}: ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const EMPTY = createHash('sha256').update('').digest('hex');
async function plain(method, path) {
  const headers = { host: endpoint.host };
  signV4(method, path, headers, EMPTY, creds, region, Date.now());
  await request(method, path, headers, undefined, new http.Agent());
}

async function run(name, v, round) {
  const o = { meta: true, ctype: true, unsigned: false, md5: false, inflight: 64, keepAlive: true, ...v };
  const agent = new http.Agent({ keepAlive: o.keepAlive, maxSockets: o.inflight });
  const prefix = `r${round}-${name}`;
  const cpu0 = process.cpuUsage();
  const r0 = ticks(rgwPid);
  const s0 = ticks(osdPid);
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < COUNT) {
      const i = next++;
      const body = bodies[i % bodies.length];
      const path = `/${bucket}/${prefix}/d${Math.floor(i / 1000)}/f${String(i).padStart(5, '0')}.bin`;
      const sha = createHash('sha256').update(body).digest('hex');
      const headers = { host: endpoint.host, 'content-length': String(body.length) };
      if (o.ctype) headers['content-type'] = 'application/octet-stream';
      if (o.meta) {
        headers['x-amz-meta-mtime'] = '1764329000.123456789';
        headers['x-amz-meta-ferry-sha256'] = sha;
      } else if (o.oneMeta) headers['x-amz-meta-ferry-sha256'] = sha;
      if (o.md5) headers['content-md5'] = createHash('md5').update(body).digest('base64');
      signV4('PUT', path, headers, o.unsigned ? 'UNSIGNED-PAYLOAD' : sha, creds, region, Date.now());
      await request('PUT', path, headers, body, agent);
    }
  };
  await Promise.all(Array.from({ length: o.inflight }, worker));
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const rgw = (ticks(rgwPid) - r0) * 10; // ms
  const osd = (ticks(osdPid) - s0) * 10;
  agent.destroy();
  return { wall, client: (cpu.user + cpu.system) / 1000 / COUNT, rgw: rgw / COUNT, osd: osd / COUNT };
}

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(
  `${COUNT} PUTs × ${SIZE} B per variant, ${ROUNDS} rounds, RGW ${endpoint.host}; load ${loadavg()}`,
);
await plain('PUT', `/${bucket}`);
const results = Object.fromEntries(names.map((n) => [n, []]));
for (let round = 1; round <= ROUNDS; round++) {
  // The order turns each round (the first variant of a run pays for warming up).
  const order = names.map((_, i) => names[(i + round - 1) % names.length]);
  for (const n of order) {
    const r = await run(n, VARIANTS[n], round);
    results[n].push(r);
    console.log(
      `r${round} ${n.padEnd(14)} ${r.wall.toFixed(2).padStart(6)} s wall  client ${r.client.toFixed(3)} ms/PUT  ` +
        `RGW ${r.rgw.toFixed(3)} ms/PUT  OSD ${r.osd.toFixed(3)} ms/PUT  store ${(r.rgw + r.osd).toFixed(3)}  load ${loadavg()}`,
    );
  }
}
const med = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log('medians (ms per PUT; store = RGW + OSD):');
const ref = med(results[names[0]].map((r) => r.rgw + r.osd));
for (const n of names) {
  const rs = results[n];
  const store = med(rs.map((r) => r.rgw + r.osd));
  console.log(
    `  ${n.padEnd(14)} wall ${med(rs.map((r) => r.wall))
      .toFixed(2)
      .padStart(6)} s  client ${med(rs.map((r) => r.client)).toFixed(3)}  ` +
      `RGW ${med(rs.map((r) => r.rgw)).toFixed(3)}  OSD ${med(rs.map((r) => r.osd)).toFixed(3)}  store ${store.toFixed(3)} (${((store / ref) * 100).toFixed(0)} % of ${names[0]})`,
  );
}
console.log(`load ${loadavg()}`);
