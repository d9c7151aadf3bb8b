import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { isAwsEndpoint, type S3Connection } from './connection.js';

/**
 * Make the S3 client for a connection. Decisions taken here, once:
 * - non-AWS endpoints get request/response checksums only when an operation requires them: the
 *   SDK's default aws-chunked uploads with CRC trailers break Ceph RGW, Swift, R2 and others;
 * - DeleteObjects carries Content-MD5, which several stores (RGW, Swift) insist on;
 * - path-style addressing by default for custom endpoints, virtual-host for AWS;
 * - keep-alive sockets, enough for the tree operations' concurrency;
 * - region redirects followed (a wrong region is then only one extra round trip).
 */
export function createS3Client(conn: S3Connection, env: NodeJS.ProcessEnv = process.env): S3Client {
  const aws = isAwsEndpoint(conn.endpoint);
  const maxSockets = Math.max(64, conn.concurrency * 2);
  const config: S3ClientConfig = {
    region: conn.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    endpoint: conn.endpoint,
    forcePathStyle: conn.pathStyle ?? !aws,
    followRegionRedirects: true,
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent({ keepAlive: true, maxSockets }),
      httpsAgent: new https.Agent({ keepAlive: true, maxSockets }),
      connectionTimeout: 10_000,
    }),
  };
  if (!aws) {
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  if (conn.accessKeyId && conn.secretAccessKey) {
    config.credentials = {
      accessKeyId: conn.accessKeyId,
      secretAccessKey: conn.secretAccessKey,
      sessionToken: conn.sessionToken,
    };
  }
  const client = new S3Client(config);
  if (!aws) addContentMd5ToDeleteObjects(client);
  return client;
}

function addContentMd5ToDeleteObjects(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (
        context.commandName === 'DeleteObjectsCommand' &&
        request.headers &&
        typeof request.body === 'string'
      ) {
        request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', name: 'ferryContentMd5', priority: 'low' },
  );
}
