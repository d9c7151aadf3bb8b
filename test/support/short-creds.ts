import { getSessionToken } from '../../src/s3/credentials/sts.js';
import type { AwsCredentials } from '../../src/s3/credentials/types.js';
import { testS3 } from './s3.js';

/**
 * Real temporary credentials from RGW's STS gateway (GetSessionToken, which RGW keeps valid for
 * at least 900 s), handed out with a declared lifetime of a few seconds. `expiryOf` tells the
 * expiry proxy (loopback.ts) when each one must stop working, so the short lifetime is enforced
 * in front of a store that checks everything else for real.
 */
export function shortLivedCredentials(lifetimeMs: number) {
  const s3 = testS3();
  if (!s3.stsEndpoint)
    throw new Error('FERRY_TEST_S3_STS_ENDPOINT (RGW with STS) is needed for the refresh tests');
  const expiries = new Map<string, number>();
  const minted: AwsCredentials[] = [];
  return {
    stsEndpoint: s3.stsEndpoint,
    minted,
    expiryOf: (token: string) => expiries.get(token),
    mint: async (): Promise<AwsCredentials> => {
      const c = await getSessionToken(
        { endpoint: s3.stsEndpoint, region: 'us-east-1' },
        async () => ({ accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }),
        900,
      );
      const expiration = new Date(Date.now() + lifetimeMs);
      expiries.set(c.sessionToken!, expiration.getTime());
      const short = { ...c, expiration };
      minted.push(short);
      return short;
    },
  };
}
