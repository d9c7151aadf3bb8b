// Seed N small objects under s3://BUCKET/PREFIX/ (64 PUTs in flight) unless they are there already.
// Usage: tsx bench/seed-objects.ts BUCKET PREFIX COUNT [SIZE]
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../src/s3/client.js';
import { connectionFromUrl } from '../src/s3/connection.js';
import { forEachConcurrent } from '../src/util/concurrency.js';
import { countKeys } from './bench-lib.js';

const [bucket, prefix, countArg, sizeArg] = process.argv.slice(2);
if (!bucket || !prefix || !countArg)
  throw new Error('usage: tsx bench/seed-objects.ts BUCKET PREFIX COUNT [SIZE]');
const count = Number(countArg);
const size = Number(sizeArg ?? 16);
const client = createS3Client(connectionFromUrl(`s3://${bucket}`));
await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => {});
const existing = await countKeys(client, bucket, prefix);
if (existing >= count) {
  console.log(`seed: ${existing} objects already under s3://${bucket}/${prefix}/`);
} else {
  const body = Buffer.alloc(size, 'x');
  const t0 = Date.now();
  await forEachConcurrent(
    Array.from({ length: count }, (_, i) => i),
    64,
    async (i) => {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `${prefix}/obj-${String(i).padStart(6, '0')}`,
          Body: body,
        }),
      );
    },
  );
  console.log(`seed: wrote ${count} objects in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
client.destroy();
