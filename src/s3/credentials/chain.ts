import { StorageError } from '../../storage/errors.js';
import { isAwsEndpoint, type S3Connection } from '../connection.js';
import { assumeRoleSource } from './assume-role.js';
import { type EcsOptions, ecsSource } from './ecs.js';
import { envSource } from './env.js';
import { type ImdsOptions, imdsSource } from './imds.js';
import { profileSource } from './profile.js';
import { type RefreshingProvider, type RefreshOptions, refreshing } from './refresh.js';
import { staticSource } from './static.js';
import type { StsPlace } from './sts.js';
import { type CredentialSource, CredentialsNotConfigured } from './types.js';
import { webIdentitySource } from './web-identity.js';

export interface CredentialOptions {
  imds?: Omit<ImdsOptions, 'required'>;
  ecs?: Omit<EcsOptions, 'required'>;
  refresh?: RefreshOptions;
}

/** The credentials of a connection: a refreshing provider, and which source answered. */
export interface ResolvedCredentials {
  /** Undefined for anonymous access (requests go unsigned). */
  provider: RefreshingProvider | undefined;
  /** The source that answered (after the first call), e.g. `profile`, `imds+assume-role`. */
  source(): CredentialSource | undefined;
  /** What was configured, for messages before the first call. */
  describe: string;
  /** Where credential exchanges go (stsPlaceFor). */
  sts: StsPlace;
  /** Where GetCallerIdentity goes (identityPlaceFor). */
  identitySts: StsPlace;
}

/** An AWS region name (`eu-west-1`, `us-gov-west-1`, `cn-north-1`); stores' own names are not. */
const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/**
 * Where credential exchanges go (AssumeRole, AssumeRoleWithWebIdentity, GetSessionToken, the
 * profile's role_arn): an STS endpoint given explicitly (`stsEndpoint`, `AWS_ENDPOINT_URL_STS`),
 * else AWS's regional STS — never the custom S3 endpoint. A web identity token is a bearer secret
 * and role assumption is signed with the source's (AWS) keys: neither belongs to whoever runs the
 * S3 store, possibly over plain HTTP. The AWS endpoint is spelled out, not left to the SDK, because
 * the SDK would otherwise take `AWS_ENDPOINT_URL` (the S3 store, for many users) or `endpoint_url`
 * from the config file. The region is the S3 one only when it is an AWS region name.
 */
export function stsPlaceFor(conn: S3Connection, env: NodeJS.ProcessEnv = process.env): StsPlace {
  const explicit = conn.stsEndpoint ?? (env.AWS_ENDPOINT_URL_STS || undefined);
  if (explicit) {
    return {
      endpoint: explicit,
      region: conn.stsRegion ?? conn.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    };
  }
  const region =
    conn.stsRegion ??
    [conn.region, env.AWS_REGION, env.AWS_DEFAULT_REGION].find((r) => r && AWS_REGION.test(r)) ??
    'us-east-1';
  return { endpoint: awsStsEndpoint(region), region };
}

/** AWS's regional STS endpoint for a region (the China partition has its own domain). */
export function awsStsEndpoint(region: string): string {
  return `https://sts.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/**
 * Where GetCallerIdentity goes (doctor, whoami): an explicit STS endpoint, else the custom S3
 * endpoint (RGW, MinIO and moto answer it there, for the keys they issued), else AWS. Unlike the
 * exchanges above it sends nothing the store does not already get: a request signed with the
 * very keys every S3 call carries.
 */
export function identityPlaceFor(conn: S3Connection, env: NodeJS.ProcessEnv = process.env): StsPlace {
  const place = stsPlaceFor(conn, env);
  if (conn.stsEndpoint ?? env.AWS_ENDPOINT_URL_STS) return place;
  if (isAwsEndpoint(conn.endpoint)) return place;
  return {
    endpoint: conn.endpoint,
    region: conn.stsRegion ?? conn.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
  };
}

/**
 * The credential chain for a connection. `credentialSource` picks one source explicitly (its
 * misconfiguration is then an error, never a silent fall-through); `auto` walks the usual order —
 * static keys of the connection, environment, profile, web identity, container (ECS), instance
 * metadata (IMDSv2) — and keeps the first source that is configured; a source that is configured
 * but fails stops the walk with its own error. A `roleArn` assumes that role on top of whichever
 * source answered. The result is cached and renewed ahead of expiry (refresh.ts).
 */
export function credentialsFor(
  conn: S3Connection,
  env: NodeJS.ProcessEnv = process.env,
  options: CredentialOptions = {},
): ResolvedCredentials {
  const sts = stsPlaceFor(conn, env);
  const identitySts = identityPlaceFor(conn, env);
  const choice =
    conn.credentialSource === 'auto' && conn.accessKeyId && conn.secretAccessKey
      ? 'static'
      : conn.credentialSource;
  if (choice === 'anonymous') {
    return {
      provider: undefined,
      source: () => ({
        name: 'anonymous',
        detail: 'unsigned requests',
        provider: async () => {
          throw new Error('anonymous');
        },
      }),
      describe: 'anonymous',
      sts,
      identitySts,
    };
  }
  const make = (
    name: Exclude<S3Connection['credentialSource'], 'auto' | 'anonymous'>,
    required: boolean,
  ): CredentialSource => {
    switch (name) {
      case 'static':
        return staticSource(conn, required);
      case 'env':
        return envSource(env, required);
      case 'profile':
        return profileSource(env, { profile: conn.profile, mfaToken: conn.mfaToken, sts, required });
      case 'web-identity':
        return webIdentitySource(env, sts, { required });
      case 'ecs':
        return ecsSource(env, { ...options.ecs, required });
      case 'imds':
        return imdsSource(env, {
          endpoint: conn.imdsEndpoint,
          v1Fallback: conn.imdsV1Fallback,
          ...options.imds,
          required,
        });
    }
  };
  const candidates: CredentialSource[] =
    choice === 'auto'
      ? (['env', 'profile', 'web-identity', 'ecs', 'imds'] as const).map((n) => make(n, false))
      : [make(choice, true)];

  let answered: CredentialSource | undefined;
  const first: CredentialSource = {
    name: choice,
    detail: candidates.map((c) => c.name).join(', '),
    provider: async () => {
      if (answered) return answered.provider();
      const skipped: string[] = [];
      for (const c of candidates) {
        try {
          const creds = await c.provider();
          answered = c;
          return creds;
        } catch (err) {
          if (!(err instanceof CredentialsNotConfigured)) throw err;
          skipped.push(`${c.name}: ${err.message}`);
        }
      }
      throw new StorageError('PermissionDenied', `no S3 credentials found. Tried ${skipped.join('; ')}`);
    },
  };
  const role = conn.roleArn
    ? {
        roleArn: conn.roleArn,
        sessionName: conn.roleSessionName,
        durationSeconds: conn.roleDurationSeconds,
        externalId: conn.externalId,
      }
    : undefined;
  const top = role ? assumeRoleSource(first, sts, role) : first;
  return {
    provider: refreshing(top.provider, options.refresh),
    source: () => {
      if (!answered) return undefined;
      return role ? assumeRoleSource(answered, sts, role) : answered;
    },
    describe: role ? `${choice} + assume role ${role.roleArn}` : choice,
    sts,
    identitySts,
  };
}
