import { isAbsolute } from 'node:path';
import type { ConnectionInput, ConnectionView, StorageTarget } from '../accounts/model.js';
import type { ConnectionPatch } from '../accounts/types.js';
import { connectionFromUrl, type S3ConnectionInput } from '../s3/connection.js';
import { isS3Url, parseS3Url } from '../s3/url.js';
import { StorageError } from '../storage/errors.js';

/** The part of the connection service these helpers need (local services or the REST API). */
export interface ConnectionsLike {
  list(): Promise<ConnectionView[]>;
  create(input: ConnectionInput): Promise<ConnectionView>;
  update(name: string, patch: ConnectionPatch): Promise<ConnectionView>;
}

/**
 * The connection settings an `s3://` URL stands for, as `ferry cp` reads it: endpoint from the URL
 * (`s3+http://KEY:SECRET@host:port/bucket/…`), else `$AWS_ENDPOINT_URL_S3`/`$AWS_ENDPOINT_URL`;
 * keys from the URL, else `$AWS_ACCESS_KEY_ID`/`$AWS_SECRET_ACCESS_KEY` of this process (they are
 * sealed into the store: the server must not depend on the admin's shell), else the server's own
 * credential chain. The connection is the whole bucket; the URL's key is returned as `prefix`.
 */
export function connectionSettingsFromUrl(
  url: string,
  env: NodeJS.ProcessEnv = process.env,
): { settings: Partial<S3ConnectionInput>; prefix: string } {
  const loc = parseS3Url(url);
  const conn = connectionFromUrl(url, { prefix: '' }, env);
  const settings: Partial<S3ConnectionInput> = { bucket: conn.bucket };
  if (conn.endpoint) settings.endpoint = conn.endpoint;
  if (conn.region) settings.region = conn.region;
  else if (env.AWS_REGION) settings.region = env.AWS_REGION;
  if (conn.accessKeyId && conn.secretAccessKey) {
    settings.credentialSource = 'static';
    settings.accessKeyId = conn.accessKeyId;
    settings.secretAccessKey = conn.secretAccessKey;
  } else if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    settings.credentialSource = 'static';
    settings.accessKeyId = env.AWS_ACCESS_KEY_ID;
    settings.secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
    if (env.AWS_SESSION_TOKEN) settings.sessionToken = env.AWS_SESSION_TOKEN;
  }
  return { settings, prefix: loc.key };
}

/** Same store, bucket and identity: a connection that can serve `settings` as it is. */
function sameConnection(view: ConnectionView, settings: Partial<S3ConnectionInput>): boolean {
  const s = view.settings as Partial<S3ConnectionInput>;
  return (
    s.bucket === settings.bucket &&
    (s.endpoint ?? undefined) === settings.endpoint &&
    (s.accessKeyId ?? undefined) === settings.accessKeyId &&
    !s.prefix
  );
}

/**
 * The named connection an `s3://` URL stands for: an existing one of the same endpoint, bucket and
 * access key, else a new one named after the bucket (`bucket`, `bucket-2`, …). With `name`, that
 * connection is created or its settings replaced (`ferry serve --storage s3://…` → `default`).
 */
export async function connectionForUrl(
  connections: ConnectionsLike,
  url: string,
  env: NodeJS.ProcessEnv = process.env,
  name?: string,
): Promise<{ name: string; prefix: string; created: boolean }> {
  const { settings, prefix } = connectionSettingsFromUrl(url, env);
  const existing = await connections.list();
  if (name) {
    if (existing.some((c) => c.name === name)) {
      await connections.update(name, { settings });
      return { name, prefix, created: false };
    }
    await connections.create({ name, settings });
    return { name, prefix, created: true };
  }
  const same = existing.find((c) => sameConnection(c, settings));
  if (same) return { name: same.name, prefix, created: false };
  const base = (settings.bucket ?? 's3')
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-')
    .slice(0, 60);
  const taken = new Set(existing.map((c) => c.name));
  let chosen = base;
  for (let i = 2; taken.has(chosen); i++) chosen = `${base}-${i}`;
  await connections.create({ name: chosen, settings });
  return { name: chosen, prefix, created: true };
}

/**
 * A home or mount target as the admin writes it: an `s3://` URL (becomes, or reuses, a named
 * connection), an absolute local folder, or `NAME:prefix` (`NAME:` or `NAME` alone: the whole
 * connection). `field` names the option in messages (`--home`).
 */
export async function storageTargetFrom(
  value: string,
  connections: ConnectionsLike,
  field: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ target: StorageTarget; note?: string }> {
  if (isS3Url(value)) {
    const c = await connectionForUrl(connections, value, env);
    return {
      target: { type: 's3', connection: c.name, prefix: c.prefix },
      note: c.created ? `created the connection ${c.name} for ${parseS3Url(value).bucket}` : undefined,
    };
  }
  if (isAbsolute(value)) return { target: { type: 'local', path: value } };
  const m = /^([a-z0-9][a-z0-9._-]{0,63})(?::(.*))?$/.exec(value);
  if (!m) {
    throw new StorageError(
      'InvalidArgument',
      `${field}: "${value}" is neither an s3:// URL, an absolute folder, nor CONNECTION:prefix`,
    );
  }
  const name = m[1] as string;
  const names = (await connections.list()).map((c) => c.name);
  if (!names.includes(name)) {
    throw new StorageError('NotFound', `${field}: no connection named ${name} (ferry connection list)`);
  }
  return { target: { type: 's3', connection: name, prefix: (m[2] ?? '').replace(/^\/+/, '') } };
}
