import {
  type BucketCannedACL,
  GetBucketAclCommand,
  GetObjectAclCommand,
  type Grant,
  type ObjectCannedACL,
  PutBucketAclCommand,
  PutObjectAclCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StorageError } from '../storage/errors.js';
import { cannedAcls } from './connection.js';
import { translateS3Error } from './errors.js';

/** The three predefined groups S3 grants to, by their short names. */
export const aclGroups = {
  'all-users': 'http://acs.amazonaws.com/groups/global/AllUsers',
  'authenticated-users': 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers',
  'log-delivery': 'http://acs.amazonaws.com/groups/s3/LogDelivery',
} as const;

export const aclPermissions = ['READ', 'WRITE', 'READ_ACP', 'WRITE_ACP', 'FULL_CONTROL'] as const;
export type AclPermission = (typeof aclPermissions)[number];

/** One grant, as Ferry shows and takes it: `id:CANONICAL`, `email:ADDRESS` or `group:all-users`. */
export interface AclGrant {
  grantee: string;
  /** The canonical user's display name, when the store gives one. */
  displayName?: string;
  permission: AclPermission;
}

export interface Acl {
  owner?: { id?: string; displayName?: string };
  grants: AclGrant[];
}

/** Where an ACL lives: a bucket (no key) or an object. */
export interface AclTarget {
  client: S3Client;
  bucket: string;
  key?: string;
  requestPayer?: 'requester';
}

export async function getAcl(t: AclTarget): Promise<Acl> {
  const res = await send(t, t.key ? 'GetObjectAcl' : 'GetBucketAcl', () =>
    t.key
      ? t.client.send(new GetObjectAclCommand({ Bucket: t.bucket, Key: t.key, RequestPayer: t.requestPayer }))
      : t.client.send(new GetBucketAclCommand({ Bucket: t.bucket })),
  );
  return {
    owner: res.Owner ? { id: res.Owner.ID, displayName: res.Owner.DisplayName } : undefined,
    grants: (res.Grants ?? []).map(fromSdk),
  };
}

/** Replace the ACL with a canned one (`private`, `public-read`, …). */
export async function setCannedAcl(t: AclTarget, canned: string): Promise<void> {
  if (!(cannedAcls as readonly string[]).includes(canned))
    throw new StorageError(
      'InvalidArgument',
      `not a canned ACL: ${canned} (one of ${cannedAcls.join(', ')})`,
    );
  const ACL = canned as ObjectCannedACL;
  await send(t, t.key ? 'PutObjectAcl' : 'PutBucketAcl', () =>
    t.key
      ? t.client.send(
          new PutObjectAclCommand({ Bucket: t.bucket, Key: t.key, ACL, RequestPayer: t.requestPayer }),
        )
      : t.client.send(new PutBucketAclCommand({ Bucket: t.bucket, ACL: ACL as BucketCannedACL })),
  );
}

/**
 * Replace the grants (the owner stays owner: S3 needs the owner in the policy, taken from the
 * current ACL). Grants are `PERMISSION=GRANTEE` as `parseGrant` reads them.
 */
export async function setGrants(t: AclTarget, grants: AclGrant[]): Promise<void> {
  const current = await getAcl(t);
  const AccessControlPolicy = {
    Owner: current.owner ? { ID: current.owner.id, DisplayName: current.owner.displayName } : undefined,
    Grants: grants.map(toSdk),
  };
  await send(t, t.key ? 'PutObjectAcl' : 'PutBucketAcl', () =>
    t.key
      ? t.client.send(
          new PutObjectAclCommand({
            Bucket: t.bucket,
            Key: t.key,
            AccessControlPolicy,
            RequestPayer: t.requestPayer,
          }),
        )
      : t.client.send(new PutBucketAclCommand({ Bucket: t.bucket, AccessControlPolicy })),
  );
}

/**
 * `read=id:79a5…`, `full-control=email:ops@example.com`, `read=group:all-users` → a grant;
 * InvalidArgument saying what is wrong otherwise.
 */
export function parseGrant(text: string): AclGrant {
  const eq = text.indexOf('=');
  const perm = text.slice(0, eq).toUpperCase().replace(/-/g, '_');
  const grantee = text.slice(eq + 1);
  if (eq < 1 || !(aclPermissions as readonly string[]).includes(perm))
    throw new StorageError(
      'InvalidArgument',
      `a grant is PERMISSION=GRANTEE with PERMISSION one of read, write, read-acp, write-acp, full-control; got "${text}"`,
    );
  const [kind, value] = [grantee.slice(0, grantee.indexOf(':')), grantee.slice(grantee.indexOf(':') + 1)];
  const ok =
    (kind === 'id' && /^[A-Za-z0-9$_:.-]+$/.test(value)) ||
    (kind === 'email' && /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) ||
    (kind === 'group' && value in aclGroups);
  if (!ok)
    throw new StorageError(
      'InvalidArgument',
      `a grantee is id:CANONICAL_USER_ID, email:ADDRESS or group:${Object.keys(aclGroups).join('|')}; got "${grantee}"`,
    );
  return { grantee, permission: perm as AclPermission };
}

function fromSdk(g: Grant): AclGrant {
  const who = g.Grantee ?? { Type: undefined };
  const group = Object.entries(aclGroups).find(([, uri]) => uri === who.URI)?.[0];
  const grantee =
    who.Type === 'Group' || who.URI
      ? `group:${group ?? who.URI}`
      : who.Type === 'AmazonCustomerByEmail' || who.EmailAddress
        ? `email:${who.EmailAddress}`
        : `id:${who.ID}`;
  return { grantee, displayName: who.DisplayName, permission: (g.Permission ?? 'READ') as AclPermission };
}

function toSdk(g: AclGrant): Grant {
  const i = g.grantee.indexOf(':');
  const [kind, value] = [g.grantee.slice(0, i), g.grantee.slice(i + 1)];
  const Grantee =
    kind === 'group'
      ? { Type: 'Group' as const, URI: aclGroups[value as keyof typeof aclGroups] }
      : kind === 'email'
        ? { Type: 'AmazonCustomerByEmail' as const, EmailAddress: value }
        : { Type: 'CanonicalUser' as const, ID: value };
  return { Grantee, Permission: g.permission };
}

async function send<T>(t: AclTarget, operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const code = (err as { name?: string }).name;
    if (code === 'AccessControlListNotSupported')
      throw new StorageError(
        'NotSupported',
        `ACLs are disabled on bucket ${t.bucket} (Object Ownership "bucket owner enforced"): access is granted by bucket policy instead`,
        { cause: err },
      );
    if (code === 'UnresolvableGrantByEmailAddress' || code === 'InvalidArgument')
      throw new StorageError(
        'InvalidArgument',
        `${operation} refused a grantee on s3://${t.bucket}/${t.key ?? ''}: ${(err as Error).message} (e-mail grantees exist only in some AWS regions; canonical ids must be of existing users)`,
        { cause: err },
      );
    throw translateS3Error(err, { operation, bucket: t.bucket, key: t.key });
  }
}
