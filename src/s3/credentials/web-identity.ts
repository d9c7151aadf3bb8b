import { readFile } from 'node:fs/promises';
import { StorageError } from '../../storage/errors.js';
import type { StsPlace } from './sts.js';
import { type CredentialSource, CredentialsNotConfigured } from './types.js';

/**
 * EKS web identity (IRSA): `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`
 * (+ `AWS_ROLE_SESSION_NAME`). The token file is read again on every refresh, because the kubelet
 * rotates it (a projected service-account token lives about an hour).
 */
export function webIdentitySource(
  env: NodeJS.ProcessEnv,
  place: StsPlace,
  options: { required?: boolean; durationSeconds?: number } = {},
): CredentialSource {
  const file = env.AWS_WEB_IDENTITY_TOKEN_FILE;
  const roleArn = env.AWS_ROLE_ARN;
  return {
    name: 'web-identity',
    detail: `${roleArn ?? '(no AWS_ROLE_ARN)'} with token file ${file ?? '(no AWS_WEB_IDENTITY_TOKEN_FILE)'}`,
    provider: async () => {
      if (!file || !roleArn) {
        const msg = `web identity needs AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (${file ? 'AWS_ROLE_ARN' : 'AWS_WEB_IDENTITY_TOKEN_FILE'} is not set)`;
        if (options.required || file || roleArn) throw new StorageError('InvalidArgument', msg);
        throw new CredentialsNotConfigured(msg);
      }
      let token: string;
      try {
        token = (await readFile(file, 'utf8')).trim();
      } catch (err) {
        throw new StorageError(
          'InvalidArgument',
          `cannot read the web identity token file ${file}: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      const { assumeRoleWithWebIdentityOnce } = await import('./sts.js'); // loaded when used
      return assumeRoleWithWebIdentityOnce(place, {
        roleArn,
        sessionName: env.AWS_ROLE_SESSION_NAME || `ferry-${Date.now()}`,
        token,
        durationSeconds: options.durationSeconds,
      });
    },
  };
}
