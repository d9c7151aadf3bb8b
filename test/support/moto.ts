import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { promisify } from 'node:util';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/s3/client.js';
import { parseConnection } from '../../src/s3/connection.js';
import { requireBuiltCli } from './cli.js';

const run = promisify(execFile);

export interface Moto {
  url: string;
  /** aws CLI against this moto (setup calls, counted as free actions). */
  aws(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

function findMoto(): string {
  for (const p of [
    process.env.MOTO_SERVER,
    '/root/.pyenv/shims/moto_server',
    '/usr/local/bin/moto_server',
    '/usr/bin/moto_server',
  ]) {
    if (p && existsSync(p)) return p;
  }
  throw new Error('moto_server not found: install it (pip install "moto[server]") or set MOTO_SERVER');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('moto_server did not start listening');
}

/**
 * moto_server on a free loopback port with `INITIAL_NO_AUTH_ACTION_COUNT = freeActions`: the
 * setup calls are free, after them SigV4 and IAM policies are enforced. Readiness is a TCP
 * connect, so no action is spent on it. Stopped by PID.
 */
export async function startMoto(freeActions: number): Promise<Moto> {
  const port = await freePort();
  const child = spawn(findMoto(), ['-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: String(freeActions) },
    stdio: 'ignore',
  });
  await waitForPort(port, child);
  const url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'AKIAMOTOSETUP0000000',
    AWS_SECRET_ACCESS_KEY: 'setup',
    AWS_DEFAULT_REGION: 'us-east-1',
  };
  delete env.AWS_CA_BUNDLE;
  delete env.AWS_PROFILE;
  return {
    url,
    aws: async (...args) =>
      (await run('aws', ['--endpoint-url', url, '--output', 'json', ...args], { env })).stdout,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    },
  };
}

/** What `motoWithBucket` gives: moto, a raw client on it, the CLI's environment on it. */
export interface MotoBucket {
  moto: Moto;
  client: S3Client;
  /** For `ferry(args, env)`: keys moto accepts, its URL as AWS_ENDPOINT_URL. */
  env: NodeJS.ProcessEnv;
  /** End the client and stop moto. */
  close(): Promise<void>;
}

/**
 * The set-up of the CLI tests that need what RGW lacks: moto_server open to every call (no IAM
 * here: every action is free), `bucket` made on it, the built CLI checked.
 */
export async function motoWithBucket(bucket: string): Promise<MotoBucket> {
  const moto = await startMoto(1_000_000);
  const keys = { accessKeyId: 'AKIAMOTOTEST00000000', secretAccessKey: 'secret' };
  const client = createS3Client(parseConnection({ bucket, endpoint: moto.url, ...keys }));
  const close = async () => {
    client.destroy();
    await moto.stop();
  };
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    await requireBuiltCli();
  } catch (err) {
    await close();
    throw err;
  }
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: moto.url,
    AWS_CA_BUNDLE: '',
  };
  return { moto, client, env, close };
}
