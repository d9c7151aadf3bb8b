import type { AssumeRoleParams, StsPlace } from './sts.js';
import type { CredentialSource } from './types.js';

/**
 * AssumeRole on top of any source: the source's credentials sign the STS call, the role's
 * temporary credentials are what S3 sees. Each call assumes the role afresh; the refreshing cache
 * (refresh.ts) decides when, ahead of the session's expiry (default duration 3600 s).
 */
export function assumeRoleSource(
  base: CredentialSource,
  place: StsPlace,
  params: AssumeRoleParams,
): CredentialSource {
  return {
    name: `${base.name}+assume-role`,
    detail: `${params.roleArn} via ${base.name} (${base.detail})${params.externalId ? ', with external id' : ''}`,
    // The STS client is loaded on the first call: a command whose keys are static never loads it.
    provider: async () => (await import('./sts.js')).assumeRoleOnce(place, base.provider, params),
  };
}
