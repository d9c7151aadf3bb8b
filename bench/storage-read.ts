/**
 * What streaming reads of a big object cost: `Storage.read` (the ordered stream protocol servers
 * and S3→S3 copies use), the read handle's `stream()`, and `aws s3 cp s3://… -` (the peer), each
 * consumed and thrown away, interleaved ROUNDS times. Prints median seconds, MiB/s, and the time
 * the process spent in garbage collection (PerformanceObserver 'gc' entries) per way.
 * Run (RGW from scripts/rgw/start.sh, its rgw.env sourced):
 *   unset AWS_CA_BUNDLE; npx tsx bench/storage-read.ts [MiB=1024] [rounds=3]
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PerformanceObserver } from 'node:perf_hooks';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../src/s3/client.js';
import { parseConnection } from '../src/s3/connection.js';
import { checkedStorage } from '../src/storage/checked.js';
import { S3Storage } from '../src/storage/s3/s3-storage.js';

const MiB = 1024 * 1024;
const size = Number(process.argv[2] ?? 1024) * MiB;
const rounds = Number(process.argv[3] ?? 3);
const endpoint = process.env.S3_ENDPOINT ?? 'http://127.0.0.1:17480';
const bucket = `ferry-readbench-${Date.now()}`;

let gcMs = 0;
let gcCount = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcMs += e.duration;
    gcCount++;
  }
}).observe({ entryTypes: ['gc'] });

async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const c of stream) n += (c as Buffer).length;
  return n;
}

function awsToNull(): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      'aws',
      ['--endpoint-url', endpoint, 's3', 'cp', '--no-progress', `s3://${bucket}/big.bin`, '-'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    p.stdout.resume();
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`aws exited ${code}`))));
  });
}

async function main() {
  const conn = parseConnection({
    bucket,
    endpoint,
    region: 'us-east-1',
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  });
  const client = createS3Client(conn);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  const raw = new S3Storage(client, conn);
  const s = checkedStorage(raw);
  try {
    const chunk = randomBytes(16 * MiB);
    async function* body() {
      for (let at = 0; at < size; at += chunk.length)
        yield chunk.subarray(0, Math.min(chunk.length, size - at));
    }
    await s.write('big.bin', body(), { size });
    const ways: Record<string, () => Promise<void>> = {
      'Storage.read': async () => {
        if ((await drain(await s.read('big.bin'))) !== size) throw new Error('short read');
      },
      'handle.stream': async () => {
        const h = await s.openRead('big.bin');
        try {
          if ((await drain(h.stream())) !== size) throw new Error('short read');
        } finally {
          await h.close();
        }
      },
      'aws s3 cp -': awsToNull,
    };
    const times: Record<string, number[]> = {};
    const gc: Record<string, number[]> = {};
    console.log(
      `== ${size / MiB} MiB streamed and discarded, rounds=${rounds}, part ${raw.download.partSize / MiB} MiB × ${raw.download.concurrency}`,
    );
    for (let r = 0; r < rounds; r++) {
      for (const [name, run] of Object.entries(ways)) {
        const [g0, t0] = [gcMs, performance.now()];
        await run();
        times[name] = [...(times[name] ?? []), (performance.now() - t0) / 1000];
        gc[name] = [...(gc[name] ?? []), gcMs - g0];
      }
    }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const peer = med(times['aws s3 cp -']!);
    for (const name of Object.keys(ways)) {
      const t = med(times[name]!);
      const gcNote = name.startsWith('aws') ? '' : `, GC ${med(gc[name]!).toFixed(0)} ms`;
      console.log(
        `  ${name.padEnd(14)} ${t.toFixed(2)} s  ${(size / MiB / t).toFixed(0)} MiB/s  aws/this = ${(peer / t).toFixed(2)}${gcNote}  (${times[name]!.map((x) => x.toFixed(2)).join(' ')})`,
      );
    }
    console.log(`  (GC entries in all: ${gcCount})`);
  } finally {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'big.bin' })).catch(() => {});
    await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
    client.destroy();
  }
}

await main();
