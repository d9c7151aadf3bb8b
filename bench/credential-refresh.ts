/**
 * What refreshing credentials cost during a transfer. Uploads the same bytes to RGW three ways,
 * interleaved, and prints the medians side by side with the aws CLI:
 *   static   — Ferry with static keys, straight to RGW's STS gateway port;
 *   proxied  — Ferry with one set of RGW STS session keys, through the expiry proxy (proxy cost);
 *   rotating — Ferry with IMDS credentials that expire every second (BENCH_LIFETIME_MS), through
 *              the same proxy, so an upload is renewed several times (half-life renewal);
 *   aws cli  — `aws s3 cp` of the same file with static keys (the direct-to-S3 reference).
 * Run: RGW's STS gateway at 127.0.0.1:7481 (BENCH_STS), then
 *   unset AWS_CA_BUNDLE; npx tsx bench/credential-refresh.ts [MiB=256] [rounds=3]
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createS3Client } from '../src/s3/client.js';
import { parseConnection, type S3ConnectionInput } from '../src/s3/connection.js';
import { getSessionToken } from '../src/s3/credentials/sts.js';
import type { AwsCredentials } from '../src/s3/credentials/types.js';
import { S3Storage } from '../src/storage/s3/s3-storage.js';
import { startImds } from '../test/support/imds-server.js';
import { startExpiryProxy } from '../test/support/loopback.js';

const MiB = 1024 * 1024;
const size = Number(process.argv[2] ?? 256) * MiB;
const rounds = Number(process.argv[3] ?? 3);
const STS = process.env.BENCH_STS ?? 'http://127.0.0.1:7481';
const keys = {
  accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const bucket = 'ferry-test';
const lifetimeMs = Number(process.env.BENCH_LIFETIME_MS ?? 1000);
const data = Buffer.alloc(size, 7);
const file = join(tmpdir(), `ferry-bench-${process.pid}.bin`);
writeFileSync(file, data);
const env = { HOME: tmpdir() };

const expiries = new Map<string, number>();
let minted = 0;
const mint = async (): Promise<AwsCredentials> => {
  const c = await getSessionToken({ endpoint: STS }, async () => keys, 900);
  const expiration = new Date(Date.now() + lifetimeMs);
  expiries.set(c.sessionToken!, expiration.getTime());
  minted++;
  return { ...c, expiration };
};
const proxy = await startExpiryProxy(STS, (t) => expiries.get(t));
const imds = await startImds({ mint });
const session = await getSessionToken({ endpoint: STS }, async () => keys, 3600);

async function ferryUpload(conn: Partial<S3ConnectionInput>): Promise<number> {
  const c = parseConnection({ bucket, prefix: 'bench-refresh', region: 'us-east-1', ...conn });
  const storage = new S3Storage(createS3Client(c, env), c);
  const t = performance.now();
  await storage.write('obj.bin', data, { size });
  const s = (performance.now() - t) / 1000;
  await storage.remove('obj.bin');
  await storage.close();
  return size / MiB / s;
}

function awsUpload(): number {
  const t = performance.now();
  const e: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
  };
  delete e.AWS_CA_BUNDLE;
  execFileSync(
    'aws',
    ['--endpoint-url', STS, 's3', 'cp', '--quiet', file, `s3://${bucket}/bench-refresh/aws.bin`],
    { env: e },
  );
  const s = (performance.now() - t) / 1000;
  execFileSync(
    'aws',
    ['--endpoint-url', STS, 's3', 'rm', '--quiet', `s3://${bucket}/bench-refresh/aws.bin`],
    { env: e },
  );
  return size / MiB / s;
}

const results: Record<string, number[]> = { static: [], proxied: [], rotating: [], 'aws cli': [] };
const fetchesPerRun: number[] = [];
for (let r = 0; r < rounds; r++) {
  results.static!.push(await ferryUpload({ endpoint: STS, ...keys }));
  results.proxied!.push(await ferryUpload({ endpoint: proxy.url, credentialSource: 'static', ...session }));
  const before = minted;
  results.rotating!.push(
    await ferryUpload({ endpoint: proxy.url, credentialSource: 'imds', imdsEndpoint: imds.url }),
  );
  fetchesPerRun.push(minted - before);
  results['aws cli']!.push(awsUpload());
}
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
console.log(`upload of ${size / MiB} MiB to Ceph RGW (${STS}), median of ${rounds}, MiB/s`);
for (const [k, v] of Object.entries(results))
  console.log(
    `  ${k.padEnd(9)} ${median(v).toFixed(0).padStart(5)}   (${v.map((x) => x.toFixed(0)).join(', ')})`,
  );
console.log(
  `  rotating: lifetime ${lifetimeMs} ms; credential sets fetched per upload: ${fetchesPerRun.join(', ')}; requests refused as expired: ${proxy.rejected}`,
);
await proxy.close();
await imds.close();
