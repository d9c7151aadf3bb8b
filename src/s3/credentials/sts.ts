import * as http from 'node:http';
import {
  AssumeRoleCommand,
  AssumeRoleWithWebIdentityCommand,
  GetCallerIdentityCommand,
  GetSessionTokenCommand,
  STSClient,
} from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { StorageError } from '../../storage/errors.js';
import type { AwsCredentials, CredentialProvider } from './types.js';

/** Where STS is: an explicit endpoint (RGW, MinIO, moto, a VPC endpoint) or AWS's regional one. */
export interface StsPlace {
  endpoint?: string;
  region?: string;
}

/** An STS client; `credentials` unset for the unsigned AssumeRoleWithWebIdentity. */
export function stsClient(place: StsPlace, credentials?: CredentialProvider): STSClient {
  return new STSClient({
    region: place.region ?? 'us-east-1',
    endpoint: place.endpoint,
    credentials: credentials ?? { accessKeyId: '', secretAccessKey: '' },
    ...(credentials ? {} : { signer: { sign: async (req: unknown) => req } as never }),
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent({ keepAlive: false }),
      connectionTimeout: 10_000,
    }),
    maxAttempts: 2,
  });
}

type StsCreds = { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: Date };

export function fromStsCredentials(c: StsCreds | undefined, what: string): AwsCredentials {
  if (!c?.AccessKeyId || !c.SecretAccessKey) {
    throw new StorageError('PermissionDenied', `${what}: STS answered without credentials`);
  }
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken,
    expiration: c.Expiration,
  };
}

export interface AssumeRoleParams {
  roleArn: string;
  sessionName: string;
  durationSeconds: number;
  externalId?: string;
  mfaSerial?: string;
  mfaToken?: string;
}

export async function assumeRoleOnce(
  place: StsPlace,
  source: CredentialProvider,
  p: AssumeRoleParams,
): Promise<AwsCredentials> {
  const client = stsClient(place, source);
  try {
    const res = await client.send(
      new AssumeRoleCommand({
        RoleArn: p.roleArn,
        RoleSessionName: p.sessionName,
        DurationSeconds: p.durationSeconds,
        ExternalId: p.externalId,
        SerialNumber: p.mfaSerial,
        TokenCode: p.mfaToken,
      }),
    );
    return fromStsCredentials(res.Credentials, `AssumeRole ${p.roleArn}`);
  } catch (err) {
    throw stsError(err, `AssumeRole ${p.roleArn}`, place);
  } finally {
    client.destroy();
  }
}

export async function assumeRoleWithWebIdentityOnce(
  place: StsPlace,
  p: { roleArn: string; sessionName: string; token: string; durationSeconds?: number },
): Promise<AwsCredentials> {
  const client = stsClient(place);
  try {
    const res = await client.send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: p.roleArn,
        RoleSessionName: p.sessionName,
        WebIdentityToken: p.token,
        DurationSeconds: p.durationSeconds,
      }),
    );
    return fromStsCredentials(res.Credentials, `AssumeRoleWithWebIdentity ${p.roleArn}`);
  } catch (err) {
    throw stsError(err, `AssumeRoleWithWebIdentity ${p.roleArn}`, place);
  } finally {
    client.destroy();
  }
}

export async function getSessionToken(
  place: StsPlace,
  source: CredentialProvider,
  durationSeconds = 900,
): Promise<AwsCredentials> {
  const client = stsClient(place, source);
  try {
    const res = await client.send(new GetSessionTokenCommand({ DurationSeconds: durationSeconds }));
    return fromStsCredentials(res.Credentials, 'GetSessionToken');
  } catch (err) {
    throw stsError(err, 'GetSessionToken', place);
  } finally {
    client.destroy();
  }
}

export interface CallerIdentity {
  account?: string;
  arn?: string;
  userId?: string;
}

/** STS GetCallerIdentity: who these credentials are (not every S3 store has it). */
export async function getCallerIdentity(
  place: StsPlace,
  source: CredentialProvider,
): Promise<CallerIdentity> {
  const client = stsClient(place, source);
  try {
    const res = await client.send(new GetCallerIdentityCommand({}));
    return { account: res.Account, arn: res.Arn, userId: res.UserId };
  } catch (err) {
    throw stsError(err, 'GetCallerIdentity', place);
  } finally {
    client.destroy();
  }
}

/** An STS failure as a StorageError that says which call, where, and what the store answered. */
export function stsError(err: unknown, what: string, place: StsPlace): StorageError {
  if (err instanceof StorageError) return err;
  const e = err as {
    name?: string;
    message?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const where = place.endpoint ?? `AWS STS (${place.region ?? 'us-east-1'})`;
  const status = e.$metadata?.httpStatusCode;
  const detail = `${e.name ?? 'Error'}${e.message ? `: ${e.message}` : ''}`;
  if (e.code && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT|EHOSTUNREACH)$/.test(e.code)) {
    return new StorageError('Transient', `${what}: STS endpoint ${where} unreachable (${e.code})`, {
      cause: err,
    });
  }
  if (e.name === 'ExpiredTokenException' || e.name === 'ExpiredToken') {
    return new StorageError('PermissionDenied', `${what} at ${where}: the token has expired (${detail})`, {
      cause: err,
      retryable: true,
    });
  }
  if (status === 403 || /AccessDenied|InvalidClientTokenId|SignatureDoesNotMatch/.test(e.name ?? '')) {
    return new StorageError('PermissionDenied', `${what} at ${where} was refused: ${detail}`, { cause: err });
  }
  if (status !== undefined && status >= 500) {
    return new StorageError('Transient', `${what} at ${where} failed: ${detail}`, { cause: err });
  }
  return new StorageError('PermissionDenied', `${what} at ${where} failed: ${detail}`, { cause: err });
}
