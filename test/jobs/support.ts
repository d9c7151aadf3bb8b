import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll } from 'vitest';
import type { Accounts } from '../../src/accounts/types.js';
import { type Jobs, type JobsOptions, openJobs } from '../../src/jobs/index.js';
import { StoragePool } from '../../src/session/storage-pool.js';
import { type Backend, openTestAccounts, system } from '../accounts/support.js';
import { TEST_BUCKET, testS3 } from '../support/s3.js';

/** Accounts on a fresh store of `backend` with the connection `rgw` (the test bucket) and jobs on it. */
export async function jobsOn(
  backend: Backend,
  options: Partial<JobsOptions> = {},
): Promise<{ accounts: Accounts; jobs: Jobs; store: Awaited<ReturnType<typeof openTestAccounts>>['store'] }> {
  const { accounts, store } = await openTestAccounts(backend);
  await addTestConnection(accounts, 'rgw');
  const pool = new StoragePool({
    resolveConnection: (n) => accounts.connections.resolve(n),
    changes: accounts.changes,
  });
  const jobs = openJobs({
    store,
    accounts,
    pool,
    schedule: false,
    leaseSeconds: 60,
    node: 'node-a',
    ...options,
  });
  afterAll(async () => {
    await jobs.close();
    pool.close();
  });
  return { accounts, jobs, store };
}

/** The connection `name` to the test bucket on the test S3 (`secretAccessKey` to spoil it). */
export async function addTestConnection(
  accounts: Accounts,
  name: string,
  secretAccessKey = testS3().secretAccessKey,
): Promise<void> {
  const s3 = testS3();
  await accounts.connections.create(
    {
      name,
      settings: {
        bucket: TEST_BUCKET,
        endpoint: s3.endpoint,
        region: 'us-east-1',
        accessKeyId: s3.accessKeyId,
        secretAccessKey,
      },
    },
    system,
  );
}

export async function putObjects(
  client: S3Client,
  prefix: string,
  files: Record<string, string>,
): Promise<void> {
  for (const [name, body] of Object.entries(files))
    await client.send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: `${prefix}/${name}`, Body: body }));
}

/** Keys under `prefix/` (relative), sorted. */
export async function keysUnder(client: S3Client, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const r = await client.send(
      new ListObjectsV2Command({ Bucket: TEST_BUCKET, Prefix: `${prefix}/`, ContinuationToken: token }),
    );
    for (const o of r.Contents ?? []) out.push((o.Key as string).slice(prefix.length + 1));
    token = r.NextContinuationToken;
  } while (token);
  return out.sort();
}

export async function removeUnder(client: S3Client, prefix: string): Promise<void> {
  const keys = await keysUnder(client, prefix);
  for (let i = 0; i < keys.length; i += 1000) {
    await client.send(
      new DeleteObjectsCommand({
        Bucket: TEST_BUCKET,
        Delete: { Objects: keys.slice(i, i + 1000).map((k) => ({ Key: `${prefix}/${k}` })) },
      }),
    );
  }
}

export async function eventually(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never true: ${what}`);
}
