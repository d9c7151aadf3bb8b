import { StorageError } from '../../storage/errors.js';
import { type CredentialSource, CredentialsNotConfigured } from './types.js';

/** Keys given in the connection (URL, flags, named connection, account store). */
export function staticSource(
  keys: { accessKeyId?: string; secretAccessKey?: string; sessionToken?: string },
  required = false,
): CredentialSource {
  return {
    name: 'static',
    detail: keys.accessKeyId ? `access key ${maskKey(keys.accessKeyId)}` : 'no key given',
    provider: async () => {
      if (!keys.accessKeyId || !keys.secretAccessKey) {
        const msg = 'no access key and secret in the connection';
        if (required) throw new StorageError('InvalidArgument', msg);
        throw new CredentialsNotConfigured(msg);
      }
      return {
        accessKeyId: keys.accessKeyId,
        secretAccessKey: keys.secretAccessKey,
        sessionToken: keys.sessionToken,
      };
    },
  };
}

/** `AKIA…MPLE` — enough to recognise a key in a message without printing it. */
export function maskKey(id: string): string {
  return id.length <= 8 ? id : `${id.slice(0, 4)}…${id.slice(-4)}`;
}
