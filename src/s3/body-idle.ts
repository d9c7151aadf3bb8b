import { IncomingMessage } from 'node:http';
import type { S3Client } from '@aws-sdk/client-s3';

/**
 * The idle timeout of a GetObject body, paced by its reader. The SDK handler's socket timeout
 * (client.ts `socketTimeout`) fires on any silence, also when the store is silent only because
 * the reader stopped taking bytes (a paused client, a slow link downstream: the socket is paused
 * and the store waits) — a live download was cut after FERRY_S3_IDLE_SECONDS. Once the answer's
 * headers are in, that timer is turned off for the body and this one watches it instead: the body
 * fails only when no byte came for `idleMs` while none were waiting for the reader.
 */
export function paceBodyTimeout(client: S3Client, idleMs: number): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName !== 'GetObjectCommand') return result;
      const body = (result.response as { body?: unknown }).body;
      if (body instanceof IncomingMessage && !body.complete) watch(body, idleMs);
      return result;
    },
    { step: 'deserialize', name: 'ferryBodyIdle', priority: 'low' },
  );
}

function watch(res: IncomingMessage, idleMs: number): void {
  const socket = res.socket;
  if (!socket) return;
  socket.setTimeout(0); // the SDK's timer: it cannot tell a silent store from a slow reader
  let seen = socket.bytesRead;
  let since = performance.now();
  const timer = setInterval(
    () => {
      const now = performance.now();
      if (socket.bytesRead !== seen || res.readableLength > 0) {
        seen = socket.bytesRead;
        since = now;
        return;
      }
      if (now - since < idleMs) return;
      clearInterval(timer);
      res.destroy(
        Object.assign(new Error(`the store sent nothing for ${Math.round(idleMs / 1000)} s (inactivity)`), {
          name: 'TimeoutError',
          code: 'ETIMEDOUT', // retryable: a ranged read asks again for what is missing
        }),
      );
    },
    Math.max(10, idleMs / 4),
  );
  timer.unref();
  res.once('close', () => clearInterval(timer));
  res.once('end', () => clearInterval(timer));
}
