import { readFile } from 'node:fs/promises';
import { StorageError } from '../../storage/errors.js';
import { type CredentialSource, CredentialsNotConfigured, parseExpiration } from './types.js';

export interface EcsOptions {
  /** Base of `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`; the ECS agent's http://169.254.170.2. */
  relativeBase?: string;
  timeoutMs?: number;
  required?: boolean;
}

/** Hosts a plain-HTTP full URI may name (as the AWS SDKs allow): loopback and the ECS/EKS agents. */
const HTTP_HOSTS =
  /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|169\.254\.170\.2|169\.254\.170\.23|\[fd00:ec2::23\])$/i;

/**
 * Container credentials (ECS task role, EKS Pod Identity, Greengrass…):
 * `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (under the agent's base) or
 * `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with the `Authorization` header from
 * `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read again on every call: it is rotated) or
 * `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
 */
export function ecsSource(env: NodeJS.ProcessEnv, options: EcsOptions = {}): CredentialSource {
  const relative = env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
  const full = env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
  const base = (options.relativeBase ?? 'http://169.254.170.2').replace(/\/+$/, '');
  const url = relative ? `${base}${relative.startsWith('/') ? '' : '/'}${relative}` : full;
  return {
    name: 'ecs',
    detail: `container credentials ${url ?? '(no AWS_CONTAINER_CREDENTIALS_*_URI)'}`,
    provider: async () => {
      if (!url) {
        const msg = 'container credentials need AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI';
        if (options.required) throw new StorageError('InvalidArgument', msg);
        throw new CredentialsNotConfigured(msg);
      }
      if (!relative) {
        const u = new URL(url);
        if (u.protocol === 'http:' && !HTTP_HOSTS.test(u.hostname)) {
          throw new StorageError(
            'InvalidArgument',
            `AWS_CONTAINER_CREDENTIALS_FULL_URI ${url}: plain HTTP is allowed only to loopback or the ECS/EKS agent addresses`,
          );
        }
      }
      const headers: Record<string, string> = {};
      const tokenFile = env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
      if (tokenFile) {
        try {
          headers.authorization = (await readFile(tokenFile, 'utf8')).trim();
        } catch (err) {
          throw new StorageError(
            'InvalidArgument',
            `cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE ${tokenFile}: ${(err as Error).message}`,
          );
        }
      } else if (env.AWS_CONTAINER_AUTHORIZATION_TOKEN) {
        headers.authorization = env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
      }
      let res: Response;
      try {
        res = await fetch(url, { headers, signal: AbortSignal.timeout(options.timeoutMs ?? 5000) });
      } catch (err) {
        throw new StorageError(
          'Transient',
          `container credentials endpoint ${url} unreachable: ${String((err as Error).cause ?? err)}`,
          {
            cause: err,
          },
        );
      }
      const text = await res.text();
      if (!res.ok) {
        throw new StorageError(
          res.status === 401 || res.status === 403 ? 'PermissionDenied' : 'Transient',
          `container credentials endpoint ${url} answered ${res.status}${res.status === 401 || res.status === 403 ? ' (authorization token missing or wrong)' : ''}: ${text.slice(0, 200)}`,
        );
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new StorageError('Transient', `container credentials endpoint ${url} did not answer JSON`);
      }
      if (typeof body.AccessKeyId !== 'string' || typeof body.SecretAccessKey !== 'string') {
        throw new StorageError('Transient', `container credentials endpoint ${url} answered without keys`);
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
