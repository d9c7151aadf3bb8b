import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { objectParamsFor } from '../../s3/object-params.js';
import {
  fileVersions,
  folderVersions,
  getVersioning,
  type ObjectVersion,
  readVersion,
  removeVersion,
  revertToVersion,
  setVersioning,
  type VersionTarget,
} from '../../s3/versions.js';
import { StorageError } from '../../storage/errors.js';
import type { CliContext } from '../context.js';
import { humanBytes } from '../output.js';
import { openS3Target, type S3Target } from '../s3-target.js';

/**
 * `ferry versions ls|revert|rm` and `ferry bucket versioning on|off|status` (src/s3/versions.ts):
 * a file's versions without listing the bucket, a version made current again, a version or a
 * delete marker removed (which undeletes).
 */
export function registerVersions(program: Command, ctx: () => CliContext): void {
  const versions = program.command('versions').description('object versions (buckets with versioning)');
  versions
    .command('ls')
    .description(
      'versions of a file, or of each file in a folder (trailing /), newest first; delete markers shown',
    )
    .argument('<location>', 's3://bucket/key or s3://bucket/folder/')
    .option('--json', 'one JSON object per version')
    .action(async (url: string, opts: { json?: boolean }) => {
      await withTarget(ctx(), url, async (c, t, v) => {
        const asFolder = url.endsWith('/') || t.key === '';
        let groups: Map<string, ObjectVersion[]>;
        if (asFolder) groups = await folderVersions(v, t.key ? `${t.key}/` : '');
        else {
          const one = await fileVersions(v, t.key);
          groups = one.length ? new Map([[t.key, one]]) : await folderVersions(v, `${t.key}/`);
        }
        if (!groups.size) throw new StorageError('NotFound', `no versions of s3://${t.bucket}/${t.key}`);
        for (const [key, list] of groups) {
          for (const ver of list) {
            if (opts.json) c.out(JSON.stringify({ ...ver, lastModified: ver.lastModified.toISOString() }));
            else
              c.out(
                `${ver.isLatest ? '*' : ' '} ${ver.lastModified.toISOString().replace('T', ' ').slice(0, 19)}  ${(ver.deleteMarker ? '(deleted)' : humanBytes(ver.size)).padStart(10)}  ${ver.versionId.padEnd(32)}  ${key}`,
              );
          }
        }
      });
    });
  versions
    .command('revert')
    .description('make a version the current one again (a server-side copy of it; older versions stay)')
    .argument('<location>', 's3://bucket/key')
    .argument('<version-id>', 'from `ferry versions ls`')
    // RGW's version ids may begin with '-': an "unknown option" here is a version id.
    .allowUnknownOption()
    .action(async (url: string, versionId: string) => {
      await withTarget(ctx(), url, async (c, t, v) => {
        const now = await revertToVersion(v, t.key, versionId, {
          multipartThreshold: t.conn.multipartCopyThreshold,
          partSize: t.conn.multipartCopyPartSize,
          concurrency: t.conn.concurrency,
        });
        c.out(`s3://${t.bucket}/${t.key} is version ${versionId} again (as new version ${now ?? '?'})`);
      });
    });
  versions
    .command('rm')
    .description('delete versions for good; deleting the latest delete marker undeletes the file')
    .argument('<location>', 's3://bucket/key')
    .argument('[version-ids...]', 'versions (or delete markers) to delete')
    .option('--delete-markers', 'delete the delete markers above the newest real version (undelete)')
    .allowUnknownOption()
    .action(async (url: string, ids: string[], opts: { deleteMarkers?: boolean }) => {
      await withTarget(ctx(), url, async (c, t, v) => {
        const list = await fileVersions(v, t.key);
        let targets = ids;
        if (opts.deleteMarkers) {
          const firstReal = list.findIndex((x) => !x.deleteMarker);
          targets = [
            ...ids,
            ...list.slice(0, firstReal < 0 ? list.length : firstReal).map((x) => x.versionId),
          ];
          if (!targets.length) throw new StorageError('NotFound', `s3://${t.bucket}/${t.key} is not deleted`);
        }
        if (!targets.length)
          throw new StorageError('InvalidArgument', 'give version ids, or --delete-markers');
        const known = new Set(list.map((x) => x.versionId));
        const unknown = targets.filter((id) => !known.has(id));
        if (unknown.length)
          throw new StorageError('NotFound', `no version ${unknown.join(', ')} of s3://${t.bucket}/${t.key}`);
        for (const id of targets) await removeVersion(v, t.key, id);
        c.out(`deleted ${targets.length} version(s) of s3://${t.bucket}/${t.key}`);
      });
    });
}

/** `ferry bucket versioning on|off|status s3://bucket`, under `ferry bucket`. */
export function registerVersioning(bucket: Command, ctx: () => CliContext): void {
  bucket
    .command('versioning')
    .description('turn versioning on or off (suspended: old versions stay), or show it with MFA delete')
    .argument('<state>', 'on, off or status')
    .argument('<bucket>', 's3://bucket')
    .action(async (state: string, url: string) => {
      if (!['on', 'off', 'status'].includes(state))
        throw new StorageError('InvalidArgument', `versioning state must be on, off or status, got ${state}`);
      await withTarget(ctx(), url, async (c, t) => {
        if (state !== 'status') await setVersioning(t.client, t.bucket, state === 'on');
        const v = await getVersioning(t.client, t.bucket);
        c.out(`s3://${t.bucket}: versioning ${v.status}${v.mfaDelete ? `, MFA delete ${v.mfaDelete}` : ''}`);
      });
    });
}

/**
 * `ferry ls --versions s3://b/folder/`: each file of the folder with its number of versions (delete
 * markers not counted; a file whose newest entry is a delete marker shows as deleted). One
 * ListObjectVersions per 1,000 versions.
 */
export async function listVersionCounts(c: CliContext, url: string, json?: boolean): Promise<void> {
  await withTarget(c, url, async (_c, t, v) => {
    const prefix = t.key ? `${t.key}/` : '';
    for (const [key, list] of await folderVersions(v, prefix)) {
      const count = list.filter((x) => !x.deleteMarker).length;
      const deleted = list[0]?.deleteMarker ?? false;
      const name = key.slice(prefix.length);
      if (json) c.out(JSON.stringify({ name, versions: count, deleted }));
      else c.out(`${String(count).padStart(5)} version(s)${deleted ? ' (deleted)' : '          '}  ${name}`);
    }
  });
}

/** `cat --version-id` / `cp --version-id`: the bytes of one version of an S3 file. */
export async function openVersion(c: CliContext, url: string, versionId: string) {
  const t = openS3Target(c, url);
  try {
    return await readVersion(
      { client: t.client, bucket: t.bucket, params: objectParamsFor(t.conn) },
      t.key,
      versionId,
    );
  } catch (err) {
    t.close();
    throw err;
  }
}

/** Copy a version to standard output. */
export async function catVersion(c: CliContext, url: string, versionId: string): Promise<void> {
  await pipeline(await openVersion(c, url, versionId), process.stdout, { end: false });
}

async function withTarget(
  c: CliContext,
  url: string,
  fn: (c: CliContext, t: S3Target, v: VersionTarget) => Promise<void>,
): Promise<void> {
  const t = openS3Target(c, url);
  try {
    await fn(c, t, { client: t.client, bucket: t.bucket, params: objectParamsFor(t.conn) });
  } finally {
    t.close();
  }
}
