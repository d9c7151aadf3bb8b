import type { S3Client } from '@aws-sdk/client-s3';
import { watchLeanRequests } from '../../src/s3/small-object.js';

/**
 * Record the name of every S3 call the clients make from now on (`HeadObjectCommand`, …), to
 * assert what an operation costs: through the SDK and through the lean small-object path
 * (src/s3/small-object.ts). Returns the live list.
 */
export function countOps(...clients: S3Client[]): string[] {
  const ops: string[] = [];
  for (const client of clients) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        ops.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize', name: 'countOps' },
    );
    watchLeanRequests(client, (operation) => ops.push(`${operation}Command`));
  }
  return ops;
}
