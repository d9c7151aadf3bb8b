// Issue 10's "versions of a file in a folder of 10,000 objects listed in ≤ 2 requests": a versioned
// bucket, a folder of COUNT objects (seeded once), one file in the middle with VERSIONS versions;
// `ferry versions ls` of that file (and `ls --versions` of it) run through a counting HTTP proxy
// (test/support/http-proxy.ts), so every HTTP request the CLI process sends is counted, whatever
// it is; `aws s3api list-object-versions` of the same file for comparison (its requests counted
// the same way, through HTTP_PROXY).
// Needs the RGW of scripts/rgw (keys and endpoint in $RGW_BASE/rgw.env, sourced by bench/lib.sh's
// callers; here: AWS_* and S3_ENDPOINT in the environment).
// Usage: source $RGW_BASE/rgw.env; npx tsx bench/versions-10k.ts [COUNT] [VERSIONS] [ROUNDS]
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CreateBucketCommand, PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../src/s3/client.js';
import { connectionFromUrl } from '../src/s3/connection.js';
import { forEachConcurrent } from '../src/util/concurrency.js';
import { startTestProxy } from '../test/support/http-proxy.js';
import { countKeys } from './bench-lib.js';

const run = promisify(execFile);
const count = Number(process.argv[2] ?? 10_000);
const versions = Number(process.argv[3] ?? 4);
const rounds = Number(process.argv[4] ?? 3);
const endpoint = process.env.S3_ENDPOINT ?? process.env.AWS_ENDPOINT_URL;
if (!endpoint) throw new Error('set S3_ENDPOINT (source $RGW_BASE/rgw.env)');
const bucket = 'bench-versions';
const prefix = `v${count}`;
const target = `${prefix}/obj-${String(Math.floor(count / 2)).padStart(6, '0')}`;

const client = createS3Client(connectionFromUrl(`s3://${bucket}`, { endpoint }, {}));
await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => {});
await client.send(
  new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
);
const existing = await countKeys(client, bucket, prefix);
if (existing < count) {
  const t0 = Date.now();
  await forEachConcurrent(
    Array.from({ length: count }, (_, i) => i),
    64,
    async (i) => {
      const Key = `${prefix}/obj-${String(i).padStart(6, '0')}`;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'v1' }));
    },
  );
  // The file in the middle gets more versions (one more per run would grow it: only when seeding).
  for (let v = 2; v <= versions; v++) {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: target, Body: `v${v}` }));
  }
  console.log(
    `seed: ${count} objects, ${versions} versions of ${target}, ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
} else console.log(`seed: ${existing} objects already under s3://${bucket}/${prefix}/`);
client.destroy();

const proxy = await startTestProxy();
const env = { ...process.env, NO_PROXY: '', no_proxy: '', HTTP_PROXY: proxy.url, AWS_ENDPOINT_URL: endpoint };

async function measure(name: string, cmd: string, args: string[]) {
  const before = proxy.forwarded.length;
  const t0 = performance.now();
  const { stdout } = await run(cmd, args, { env, maxBuffer: 64 * 1024 * 1024 });
  const ms = performance.now() - t0;
  const requests = proxy.forwarded.slice(before);
  const kinds = requests.map((r) => {
    const [method, url] = r.split(' ');
    const q = new URL(url!).searchParams;
    if (q.has('versions')) return `ListObjectVersions${q.has('delimiter') ? ' (delimiter)' : ''}`;
    if (q.has('list-type')) return 'ListObjectsV2';
    return method!;
  });
  const summary = [...new Set(kinds)].map((k) => `${kinds.filter((x) => x === k).length}× ${k}`).join(', ');
  const lines = stdout.trim().split('\n').length;
  console.log(
    `${name.padEnd(40)} ${ms.toFixed(0).padStart(6)} ms  ${String(requests.length).padStart(3)} requests (${summary})  ${lines} lines`,
  );
  return requests.length;
}

console.log(`versions of s3://${bucket}/${target} in a folder of ${count} objects, ${rounds} rounds`);
let worst = 0;
for (let r = 0; r < rounds; r++) {
  worst = Math.max(
    worst,
    await measure('ferry versions ls FILE', process.execPath, [
      'bin/ferry.js',
      'versions',
      'ls',
      `s3://${bucket}/${target}`,
    ]),
  );
  await measure('ferry ls --versions FILE', process.execPath, [
    'bin/ferry.js',
    'ls',
    '--versions',
    `s3://${bucket}/${target}`,
  ]);
  await measure('aws s3api list-object-versions --prefix', 'aws', [
    '--endpoint-url',
    endpoint,
    's3api',
    'list-object-versions',
    '--bucket',
    bucket,
    '--prefix',
    target,
  ]);
}
await proxy.close();
console.log(`ferry versions ls: at most ${worst} HTTP requests per run (issue 10 asks ≤ 2)`);
