import { StorageError } from '../../storage/errors.js';
import { type CredentialSource, CredentialsNotConfigured, parseExpiration } from './types.js';

/**
 * `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`,
 * `AWS_CREDENTIAL_EXPIRATION`). Read on every call, so a refresh sees a rotated environment.
 */
export function envSource(env: NodeJS.ProcessEnv, required = false): CredentialSource {
  return {
    name: 'env',
    detail: 'AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY',
    provider: async () => {
      const accessKeyId = env.AWS_ACCESS_KEY_ID;
      const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
      if (!accessKeyId || !secretAccessKey) {
        const which = accessKeyId
          ? 'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not'
          : secretAccessKey
            ? 'AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not'
            : 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set';
        const msg = `credentials from the environment: ${which}`;
        if (required || accessKeyId || secretAccessKey) throw new StorageError('InvalidArgument', msg);
        throw new CredentialsNotConfigured(msg);
      }
      return {
        accessKeyId,
        secretAccessKey,
        sessionToken: env.AWS_SESSION_TOKEN || undefined,
        expiration: parseExpiration(env.AWS_CREDENTIAL_EXPIRATION),
      };
    },
  };
}
