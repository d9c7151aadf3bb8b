import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { permissionNames } from '../../src/accounts/model.js';
import type { EffectiveUser } from '../../src/accounts/types.js';
import { openStore, type Store } from '../../src/db/database.js';
import { createS3Client } from '../../src/s3/client.js';
import type { S3Connection } from '../../src/s3/connection.js';
import { EventBus } from '../../src/session/events.js';
import { QuotaLedger } from '../../src/session/quota-ledger.js';
import { Tree } from '../../src/session/resolve.js';
import { UserSession } from '../../src/session/session.js';
import { defaultSessionLimits, type SessionLimits } from '../../src/session/session-transfers.js';
import { StoragePool } from '../../src/session/storage-pool.js';
import { Throttles } from '../../src/session/throttle.js';
import type { SessionEvent } from '../../src/session/types.js';
import { ensureBucket, testConnection } from '../support/s3.js';

const MiB = 1024 * 1024;

/** A fresh SQLite store in a temp folder. */
export async function tempStore(): Promise<{ store: Store; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-session-'));
  return { store: await openStore(join(dir, 'ferry.db')), dir };
}

/**
 * What the session tests with homes on RGW share: a fresh store, a test RGW connection that goes
 * multipart from 5 MiB (5 MiB parts, two at a time: 6 MiB files go up in parts), a raw client on
 * it with its bucket made. `objects(home)` and `uploads(home)` are `s3Objects` and
 * `multipartUploads` under `conn.prefix/home`. `close` ends the client and the store.
 */
export async function rgwSessionParts(): Promise<{
  store: Store;
  conn: S3Connection;
  client: S3Client;
  objects(home: string): ReturnType<typeof s3Objects>;
  uploads(home: string): Promise<number>;
  close(): Promise<void>;
}> {
  const { store } = await tempStore();
  const conn = testConnection({ partSize: 5 * MiB, multipartThreshold: 5 * MiB, partConcurrency: 2 });
  const client = createS3Client(conn);
  const close = async () => {
    client.destroy();
    await store.close();
  };
  try {
    await ensureBucket(client, conn.bucket);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    store,
    conn,
    client,
    objects: (home) => s3Objects(client, conn.bucket, `${conn.prefix}/${home}`),
    uploads: (home) => multipartUploads(client, conn.bucket, `${conn.prefix}/${home}`),
    close,
  };
}

/** A user with everything allowed and nothing limited, home in a local folder. */
export function userWith(overrides: Partial<EffectiveUser> & { home: EffectiveUser['home'] }): EffectiveUser {
  return {
    username: 'alice',
    enabled: true,
    permissions: { '/': [...permissionNames] },
    mounts: [],
    quota: {},
    bandwidth: {},
    allowedIps: [],
    deniedIps: [],
    setstatMode: 'ignore',
    ...overrides,
  };
}

/** Connections by name for the pool: real S3 connections (RGW), no account service needed. */
export function poolFor(connections: Record<string, S3Connection>, showPartialUploads = false): StoragePool {
  return new StoragePool({
    resolveConnection: async (name) => {
      const c = connections[name];
      if (!c) throw new Error(`test: no connection ${name}`);
      return { ...c, showPartialUploads };
    },
  });
}

/**
 * A session for a hand-made EffectiveUser, built from the real parts (tree, pool, ledger on a real
 * store, buckets, bus) — what the manager does after a login.
 */
export function sessionFor(
  user: EffectiveUser,
  parts: { store: Store; pool?: StoragePool; limits?: Partial<SessionLimits>; throttles?: Throttles },
) {
  const events: SessionEvent[] = [];
  const bus = new EventBus((err) => {
    throw err;
  });
  bus.subscribe((e) => void events.push(e));
  const ledger = new QuotaLedger(parts.store);
  const pool = parts.pool ?? poolFor({});
  let accepting = true;
  const session = new UserSession({
    id: randomUUID(),
    user,
    protocol: 'test',
    remote: '127.0.0.1',
    tree: new Tree(user),
    pool,
    ledger,
    buckets: (parts.throttles ?? new Throttles()).acquire(user.username, user.bandwidth),
    bus,
    limits: { ...defaultSessionLimits, ...parts.limits },
    accepting: () => accepting,
    onClose: () => {},
  });
  const stopAccepting = () => {
    accepting = false;
  };
  return { session, events, ledger, pool, stopAccepting };
}

/** Every object key and size under `prefix/`, straight from S3. */
export async function s3Objects(client: S3Client, bucket: string, prefix: string) {
  const out: { key: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) out.push({ key: o.Key ?? '', size: o.Size ?? 0 });
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

export async function multipartUploads(client: S3Client, bucket: string, prefix: string): Promise<number> {
  const r = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}/` }));
  return r.Uploads?.length ?? 0;
}
