import { isAwsEndpoint, type S3Connection } from './connection.js';

const TRUE = /^true$/i;

/**
 * The endpoint of `conn` when Ferry's lean requests (small-object.ts, list-lean.ts) honour every
 * setting of it, undefined when they are left to the SDK: an explicit non-AWS http(s) endpoint
 * with no path or query, signed with SigV4, no proxy, no accelerate, dual-stack or FIPS (the SDK
 * would refuse such a custom endpoint or pick another host), and `FERRY_LEAN_S3` not `0`.
 */
export function leanEndpoint(
  conn: S3Connection,
  env: NodeJS.ProcessEnv,
  signed: boolean,
  proxied: boolean,
): { endpoint: URL; tls: boolean } | undefined {
  if (!conn.endpoint || isAwsEndpoint(conn.endpoint) || !signed || proxied) return undefined;
  if (conn.signature === 'v2' || conn.accelerate || conn.dualstack) return undefined;
  if (env.FERRY_LEAN_S3 === '0') return undefined;
  if (TRUE.test(env.AWS_USE_FIPS_ENDPOINT ?? '') || TRUE.test(env.AWS_USE_DUALSTACK_ENDPOINT ?? ''))
    return undefined;
  let endpoint: URL;
  try {
    endpoint = new URL(conn.endpoint);
  } catch {
    return undefined;
  }
  if ((endpoint.pathname !== '/' && endpoint.pathname !== '') || endpoint.search) return undefined;
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') return undefined;
  return { endpoint, tls: endpoint.protocol === 'https:' };
}
