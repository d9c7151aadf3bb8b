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
  sts: StsPlace;
}

/** Where STS is for a connection: explicit, else the custom S3 endpoint (RGW, MinIO), else AWS. */
export function stsPlaceFor(conn: S3Connection, env: NodeJS.ProcessEnv = process.env): StsPlace {
  return {
    endpoint:
      conn.stsEndpoint ??
      env.AWS_ENDPOINT_URL_STS ??
      (isAwsEndpoint(conn.endpoint) ? undefined : conn.endpoint),
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
  };
}
