/** AWS credentials as the SDK takes them; `expiration` set for temporary ones. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Fetches credentials; called again when the previous ones near their expiry. */
export type CredentialProvider = () => Promise<AwsCredentials>;

/** A named source of credentials (static, env, profile, web-identity, ecs, imds, …). */
export interface CredentialSource {
  /** Short name, as shown by `ferry doctor` / `ferry whoami`. */
  name: string;
  /** Where exactly (profile name, endpoint, file), for messages. */
  detail: string;
  provider: CredentialProvider;
}

/**
 * Raised when a source is not configured at all (no env vars, no profile file…): the default
 * chain moves on to the next source. Any other error (a refused key, an unreachable endpoint that
 * is configured) stops the chain, because silently falling through would hide the mistake.
 */
export class CredentialsNotConfigured extends Error {
  override readonly name = 'CredentialsNotConfigured';
}

/** Parse an ISO expiration from a credentials endpoint; undefined when absent. */
export function parseExpiration(value: unknown): Date | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}
