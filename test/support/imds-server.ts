import type * as http from 'node:http';
import type { AwsCredentials } from '../../src/s3/credentials/types.js';
import { type Loopback, startLoopback } from './loopback.js';

export interface ImdsServer extends Loopback {
  /** Credential documents served. */
  served: number;
  tokenPuts: number;
  /** TTLs asked for in token PUTs. */
  ttls: string[];
  /** Requests without a token that were refused (v1 disabled). */
  refusedV1: number;
}

/**
 * A stand-in for the EC2 instance metadata service, speaking the documented protocol: PUT
 * /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds → token; GETs under
 * /latest/meta-data/iam/security-credentials/ need X-aws-ec2-metadata-token (401 without, unless
 * `v1` is on). `mint` makes each credential document (tests hand out real, short-lived keys).
 * `hangTokenPut` reproduces the hop-limit trap: the PUT's answer never arrives.
 */
export async function startImds(options: {
  role?: string;
  mint: () => Promise<AwsCredentials>;
  v1?: boolean;
  hangTokenPut?: boolean;
  /** An IMDSv1-only service: the token PUT is refused with 403. */
  noV2?: boolean;
}): Promise<ImdsServer> {
  const role = options.role ?? 'ferry-test-role';
  const tokens = new Map<string, number>();
  const s = (await startLoopback(async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = req.url ?? '';
    if (req.method === 'PUT' && url === '/latest/api/token') {
      if (options.hangTokenPut) return; // never answer
      if (options.noV2) {
        res.writeHead(403).end();
        return;
      }
      const ttl = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
      if (typeof ttl !== 'string' || !/^\d+$/.test(ttl) || Number(ttl) < 1 || Number(ttl) > 21600) {
        res.writeHead(400).end();
        return;
      }
      s.tokenPuts++;
      s.ttls.push(ttl);
      const token = `tok-${s.tokenPuts}-${Math.random().toString(36).slice(2)}`;
      tokens.set(token, Date.now() + Number(ttl) * 1000);
      res
        .writeHead(200, { 'x-aws-ec2-metadata-token-ttl-seconds': ttl, 'content-type': 'text/plain' })
        .end(token);
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    const token = req.headers['x-aws-ec2-metadata-token'];
    const valid = typeof token === 'string' && (tokens.get(token) ?? 0) > Date.now();
    if (!valid && (token !== undefined || !options.v1)) {
      if (token === undefined) s.refusedV1++;
      res.writeHead(401).end();
      return;
    }
    const base = '/latest/meta-data/iam/security-credentials/';
    if (url === base) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(role);
      return;
    }
    if (url === `${base}${role}`) {
      const c = await options.mint();
      s.served++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          Code: 'Success',
          LastUpdated: new Date().toISOString(),
          Type: 'AWS-HMAC',
          AccessKeyId: c.accessKeyId,
          SecretAccessKey: c.secretAccessKey,
          Token: c.sessionToken,
          Expiration: c.expiration?.toISOString(),
        }),
      );
      return;
    }
    res.writeHead(404).end();
  })) as ImdsServer;
  s.served = 0;
  s.tokenPuts = 0;
  s.ttls = [];
  s.refusedV1 = 0;
  return s;
}
