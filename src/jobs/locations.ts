import { isAbsolute, join } from 'node:path';
import type { StorageTarget } from '../accounts/model.js';
import type { Accounts } from '../accounts/types.js';
import { isS3Url, parseS3Url } from '../s3/url.js';
import type { StoragePool } from '../session/storage-pool.js';
import { StorageError } from '../storage/errors.js';
import { isWithin, normalizePath } from '../storage/paths.js';
import type { SyncSide } from '../sync/types.js';
import { localFoldersOverlap } from '../util/real-path.js';

/**
 * Where a sync job reads and writes. Three forms, stored in their canonical text:
 * - `CONNECTION:prefix` — a named connection and a key prefix in it (`archive:2026/`). An
 *   `s3://bucket/prefix` URL is accepted and stored as `NAME:prefix` of the connection of that
 *   bucket (one without a prefix of its own first, then by name); a URL carrying keys is refused:
 *   secrets belong in the connection, where they are sealed.
 * - `user:NAME/path` — a folder in a user's home (their effective home: own, a group's, or the
 *   server's default + the username). The job goes straight to the home's storage: the user's
 *   permissions, quota ledger and mounts do not apply (an admin's job, like `ferry cp` by the admin).
 * - `/absolute/folder` — a folder of the server's disk (the pool refuses the data folder).
 */
export type JobLocation =
  | { kind: 'connection'; connection: string; prefix: string }
  | { kind: 'user'; username: string; path: string }
  | { kind: 'local'; path: string };

/** Parse a stored or given location; `field` names it in errors. No store lookups. */
export function parseLocation(value: string, field: string): JobLocation {
  const fail = (why: string): never => {
    throw Object.assign(new StorageError('InvalidArgument', `${field}: ${why}`), { field: `body.${field}` });
  };
  if (isAbsolute(value)) return { kind: 'local', path: value };
  const user = /^user:([a-z0-9][a-z0-9._-]{0,63})(?:\/(.*))?$/.exec(value);
  if (user) return { kind: 'user', username: user[1] as string, path: pathOf(user[2] ?? '', fail) };
  // `https://KEY:SECRET@host/…` would otherwise read as the connection `https`, keys in its prefix.
  const otherUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !isS3Url(value);
  const conn = /^([a-z0-9][a-z0-9._-]{0,63}):(.*)$/.exec(value);
  if (conn && conn[1] !== 'user' && !otherUrl && !isS3Url(value))
    return { kind: 'connection', connection: conn[1] as string, prefix: pathOf(conn[2] ?? '', fail) };
  return fail(
    `"${redactUserinfo(value.slice(0, 200))}" is neither CONNECTION:prefix, s3://bucket/prefix, user:NAME/path nor an absolute folder`,
  );
}

/** A location not understood may still carry keys (`https://KEY:SECRET@host/…`): never echo them. */
function redactUserinfo(value: string): string {
  const at = value.lastIndexOf('@');
  return at < 0 ? value : `…${value.slice(at)}`;
}

function pathOf(p: string, fail: (why: string) => never): string {
  try {
    return normalizePath(p);
  } catch (err) {
    return fail((err as Error).message);
  }
}

/** The text a location is stored and shown as. */
export function locationText(l: JobLocation): string {
  switch (l.kind) {
    case 'connection':
      return `${l.connection}:${l.prefix}`;
    case 'user':
      return l.path ? `user:${l.username}/${l.path}` : `user:${l.username}`;
    case 'local':
      return l.path;
  }
}

/**
 * Check a location against the store and return its canonical text: the connection or user must
 * exist; an `s3://` URL becomes `NAME:prefix` of an existing connection of its bucket.
 */
export async function canonicalLocation(
  value: string,
  field: string,
  accounts: Pick<Accounts, 'connections' | 'users'>,
): Promise<string> {
  const invalid = (why: string) =>
    Object.assign(new StorageError('InvalidArgument', `${field}: ${why}`), { field: `body.${field}` });
  if (isS3Url(value)) {
    let loc: ReturnType<typeof parseS3Url>;
    try {
      loc = parseS3Url(value);
    } catch (err) {
      throw invalid((err as Error).message);
    }
    if (loc.accessKeyId || /^[^:]+:\/\/[^/]*@/.test(value))
      throw invalid(
        'a URL with keys is not stored in a job: add a connection (ferry connection add) and use NAME:prefix',
      );
    const all = await accounts.connections.list({ limit: 1000 });
    const same = all
      .filter(
        (c) => c.settings.bucket === loc.bucket && (!loc.endpoint || c.settings.endpoint === loc.endpoint),
      )
      .sort(
        (a, b) =>
          Number(Boolean(a.settings.prefix)) - Number(Boolean(b.settings.prefix)) ||
          a.name.localeCompare(b.name),
      );
    const chosen = same[0];
    if (!chosen)
      throw invalid(
        `no connection for the bucket ${loc.bucket} (ferry connection add NAME s3://${loc.bucket})`,
      );
    return locationText({ kind: 'connection', connection: chosen.name, prefix: normalizePath(loc.key) });
  }
  const l = parseLocation(value, field);
  if (l.kind === 'connection') {
    await accounts.connections.get(l.connection).catch((err) => {
      if (StorageError.is(err, 'NotFound')) throw invalid(`no connection named ${l.connection}`);
      throw err;
    });
  } else if (l.kind === 'user') {
    await accounts.users.get(l.username).catch((err) => {
      if (StorageError.is(err, 'NotFound')) throw invalid(`no user named ${l.username}`);
      throw err;
    });
  }
  return locationText(l);
}

/** The storage and folder a stored location stands for, through the server's storage pool. */
export async function resolveSide(
  value: string,
  field: string,
  deps: { pool: StoragePool; accounts: Pick<Accounts, 'users'> },
): Promise<SyncSide> {
  const l = parseLocation(value, field);
  let target: StorageTarget;
  let root = '';
  if (l.kind === 'connection') target = { type: 's3', connection: l.connection, prefix: l.prefix };
  else if (l.kind === 'local') target = { type: 'local', path: l.path };
  else {
    target = (await deps.accounts.users.effective(l.username)).home;
    root = l.path;
  }
  const storage = await deps.pool.get(target);
  return { storage, root, display: locationText(l) };
}

/** Where a location's files are, as the store alone says (no S3 request). */
type Place = { kind: 's3'; bucket: string; key: string } | { kind: 'local'; path: string };

type PlaceDeps = Pick<Accounts, 'users' | 'connections'>;

async function placeOf(l: JobLocation, accounts: PlaceDeps): Promise<Place> {
  if (l.kind === 'local') return { kind: 'local', path: l.path };
  let connection: string;
  let prefix: string;
  if (l.kind === 'connection') ({ connection, prefix } = l);
  else {
    const home = (await accounts.users.effective(l.username)).home;
    if (home.type === 'local') return { kind: 'local', path: join(home.path, l.path) };
    connection = home.connection;
    prefix = [home.prefix === '' ? '' : normalizePath(home.prefix), l.path].filter((p) => p).join('/');
  }
  // Two connections to one bucket (other keys, other names) are one place: the endpoint as a URL
  // normalises it (case, default port, a trailing slash); unset is AWS, where bucket names are global.
  const found = await accounts.connections.get(connection).catch((err: unknown) => {
    if (StorageError.is(err, 'NotFound')) return undefined; // a home's connection gone: its run fails
    throw err;
  });
  if (!found) return { kind: 's3', bucket: `connection ${connection}`, key: prefix };
  const settings = found.settings as { bucket?: string; endpoint?: string; prefix?: string };
  let endpoint = settings.endpoint ?? 'aws';
  try {
    if (settings.endpoint) endpoint = new URL(settings.endpoint).href.replace(/\/$/, '');
  } catch {}
  const base = settings.prefix ? normalizePath(settings.prefix) : '';
  return {
    kind: 's3',
    bucket: `${endpoint} ${settings.bucket}`,
    key: [base, prefix].filter((p) => p).join('/'),
  };
}

/**
 * A job whose source and destination are one folder, or one inside the other, as their text and
 * the store show it (one bucket through one endpoint, by any connections, with nested prefixes; a
 * user's home in it; nested local folders, symlinks followed, bind mounts seen by identity): a mirror there deletes the source's
 * files, a copy nests the tree one level deeper each run. Refused when the job is saved (the field
 * `destination`) and again when it runs (a home or a connection may have changed since). One
 * bucket through two spellings of its endpoint (`localhost` and `127.0.0.1`) is not told apart
 * here: the sync's listing guard (src/sync/listing.ts) catches a mirror or move there.
 */
export async function refuseOverlap(source: string, destination: string, accounts: PlaceDeps): Promise<void> {
  const [a, b] = await Promise.all([
    placeOf(parseLocation(source, 'source'), accounts),
    placeOf(parseLocation(destination, 'destination'), accounts),
  ]);
  const overlap =
    a.kind === 's3' && b.kind === 's3'
      ? a.bucket === b.bucket && (isWithin(a.key, b.key) || isWithin(b.key, a.key))
      : a.kind === 'local' && b.kind === 'local' && (await localFoldersOverlap(a.path, b.path));
  if (overlap)
    throw Object.assign(
      new StorageError(
        'InvalidArgument',
        `destination: ${destination} and the source ${source} overlap (one folder, or one inside the other): refusing a job between them; sync between separate folders`,
      ),
      { field: 'body.destination' },
    );
}
