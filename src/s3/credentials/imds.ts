import { StorageError } from '../../storage/errors.js';
import {
  type AwsCredentials,
  type CredentialSource,
  CredentialsNotConfigured,
  parseExpiration,
} from './types.js';

export interface ImdsOptions {
  /** Default `$AWS_EC2_METADATA_SERVICE_ENDPOINT`, else http://169.254.169.254. */
  endpoint?: string;
  /** Allow the token-less IMDSv1 when the token PUT is refused or times out. Default off. */
  v1Fallback?: boolean;
  /** Lifetime asked for each session token (X-aws-ec2-metadata-token-ttl-seconds). */
  tokenTtlSeconds?: number;
  /** Per-request time limit; the hop-limit trap shows up as a PUT that never answers. */
  timeoutMs?: number;
  /** Selected explicitly (iam_lookup, --credentials imds): errors are reported, not skipped. */
  required?: boolean;
}

const TOKEN_PATH = '/latest/api/token';
const CREDS_PATH = '/latest/meta-data/iam/security-credentials/';

/**
 * EC2 instance metadata credentials, IMDSv2: PUT a session token (TTL header), then GET the role
 * name and its credentials with the token. The token is reused until shortly before its TTL and
 * fetched again on a 401. IMDSv1 (no token) only when `v1Fallback` is on. A token PUT that times
 * out is the classic container trap (the instance's hop limit of 1 drops the answer one hop
 * short of a container), and the error says so.
 */
export function imdsSource(env: NodeJS.ProcessEnv, options: ImdsOptions = {}): CredentialSource {
  const endpoint = (
    options.endpoint ??
    env.AWS_EC2_METADATA_SERVICE_ENDPOINT ??
    'http://169.254.169.254'
  ).replace(/\/+$/, '');
  const ttl = options.tokenTtlSeconds ?? 21_600;
  const timeoutMs = options.timeoutMs ?? (options.required ? 2000 : 1000);
  let token: { value: string; until: number } | undefined;

  const call = async (method: string, path: string, headers: Record<string, string>) => {
    try {
      return await fetch(`${endpoint}${path}`, { method, headers, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const name = (err as Error).name;
      const timedOut = name === 'TimeoutError' || name === 'AbortError';
      throw Object.assign(new Error(timedOut ? 'timed out' : String((err as Error).cause ?? err)), {
        timedOut,
      });
    }
  };

  const fetchToken = async (): Promise<string | undefined> => {
    if (token && Date.now() < token.until) return token.value;
    let res: Response;
    try {
      res = await call('PUT', TOKEN_PATH, { 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
    } catch (err) {
      if (options.v1Fallback) return undefined;
      const timedOut = (err as { timedOut?: boolean }).timedOut;
      const msg = timedOut
        ? `IMDSv2 token request to ${endpoint} timed out after ${timeoutMs} ms. Inside a container on EC2 this is the hop-limit trap: raise the instance's metadata hop limit to 2 (aws ec2 modify-instance-metadata-options --instance-id … --http-put-response-hop-limit 2), or give the container its own credentials (ECS task role, EKS IRSA). Not on EC2? Choose another credential source.`
        : `instance metadata endpoint ${endpoint} unreachable (${(err as Error).message}): not on EC2, or metadata disabled`;
      if (options.required)
        throw new StorageError(timedOut ? 'Transient' : 'InvalidArgument', msg, { cause: err });
      throw new CredentialsNotConfigured(msg);
    }
    if (res.ok) {
      const value = (await res.text()).trim();
      token = { value, until: Date.now() + Math.max(1, ttl - 60) * 1000 };
      return value;
    }
    await res.body?.cancel();
    if (options.v1Fallback && (res.status === 403 || res.status === 404 || res.status === 405))
      return undefined;
    throw new StorageError(
      'PermissionDenied',
      `IMDSv2 token request to ${endpoint} answered ${res.status}${res.status === 403 ? ' (instance metadata disabled for this instance?)' : ''}`,
    );
  };

  const get = async (path: string, retry = true): Promise<string> => {
    const t = await fetchToken();
    const res = await call('GET', path, t ? { 'x-aws-ec2-metadata-token': t } : {}).catch((err: Error) => {
      throw new StorageError('Transient', `instance metadata ${endpoint}${path}: ${err.message}`, {
        cause: err,
      });
    });
    if (res.status === 401 && t && retry) {
      token = undefined; // expired or revoked session token: get a new one once
      await res.body?.cancel();
      return get(path, false);
    }
    if (res.status === 401 && !t) {
      await res.body?.cancel();
      throw new StorageError(
        'PermissionDenied',
        `instance metadata ${endpoint} requires IMDSv2 (401 without a token)`,
      );
    }
    if (res.status === 404 && path === CREDS_PATH) {
      throw new StorageError(
        'PermissionDenied',
        `this instance has no IAM role attached (${endpoint}${path} answered 404)`,
      );
    }
    if (!res.ok)
      throw new StorageError('Transient', `instance metadata ${endpoint}${path} answered ${res.status}`);
    return res.text();
  };

  return {
    name: 'imds',
    detail: `instance metadata ${endpoint} (IMDSv2${options.v1Fallback ? ', v1 fallback' : ''})`,
    provider: async (): Promise<AwsCredentials> => {
      if (env.AWS_EC2_METADATA_DISABLED === 'true' && !options.required) {
        throw new CredentialsNotConfigured('instance metadata disabled by AWS_EC2_METADATA_DISABLED');
      }
      const role = (await get(CREDS_PATH)).split('\n')[0]?.trim();
      if (!role)
        throw new StorageError('PermissionDenied', `this instance has no IAM role attached (${endpoint})`);
      const body = JSON.parse(await get(`${CREDS_PATH}${encodeURIComponent(role)}`)) as Record<
        string,
        unknown
      >;
      if (body.Code !== undefined && body.Code !== 'Success') {
        throw new StorageError(
          'PermissionDenied',
          `instance metadata credentials for role ${role}: ${String(body.Code)} ${String(body.Message ?? '')}`,
        );
      }
      if (typeof body.AccessKeyId !== 'string' || typeof body.SecretAccessKey !== 'string') {
        throw new StorageError('Transient', `instance metadata for role ${role} holds no credentials`);
      }
      return {
        accessKeyId: body.AccessKeyId,
        secretAccessKey: body.SecretAccessKey,
        sessionToken: typeof body.Token === 'string' ? body.Token : undefined,
        expiration: parseExpiration(body.Expiration),
      };
    },
  };
}
