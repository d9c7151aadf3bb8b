import { createHmac } from 'node:crypto';
import type { z } from 'zod';
import type { webhookActionSchema } from '../model.js';
import { type ActionContext, PermanentError } from './template.js';

export type WebhookAction = z.output<typeof webhookActionSchema>;

/**
 * The signature a receiver checks: hex HMAC-SHA256 with the rule's secret over
 * `<X-Ferry-Timestamp>.<body>`, sent as `X-Ferry-Signature: sha256=<hex>` (the timestamp is
 * signed so an old request replayed later can be refused).
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * POST the event as JSON. A 2xx answer delivers; anything else (a refused connection, a timeout,
 * a 3xx, 4xx or 5xx) is a failure retried with backoff. Redirects are not followed. The error
 * names the status, never the URL (it may carry a token).
 */
export async function sendWebhook(action: WebhookAction, ctx: ActionContext): Promise<void> {
  const body = JSON.stringify({ id: ctx.deliveryId, rule: ctx.rule, event: ctx.event });
  const timestamp = String(Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = {
    ...action.headers,
    'content-type': 'application/json',
    'user-agent': 'ferry-event-rules',
    'x-ferry-delivery': ctx.deliveryId,
    'x-ferry-event': ctx.event.kind,
    'x-ferry-rule': ctx.rule,
    'x-ferry-timestamp': timestamp,
  };
  if (action.secret) headers['x-ferry-signature'] = webhookSignature(action.secret, timestamp, body);
  const signals = [AbortSignal.timeout(action.timeoutSeconds * 1000), ...(ctx.signal ? [ctx.signal] : [])];
  let res: Response;
  try {
    res = await fetch(action.url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.any(signals),
    });
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') throw new Error(`webhook: no answer within ${action.timeoutSeconds} s`);
    throw new Error(`webhook: ${e.cause?.code ?? e.cause?.message ?? e.name ?? 'request failed'}`);
  }
  // The answer's body is not needed; drop it so the socket is freed.
  await res.body?.cancel().catch(() => {});
  if (res.status >= 200 && res.status < 300) return;
  if (res.status === 410) throw new PermanentError('webhook: HTTP 410 Gone');
  throw new Error(`webhook: HTTP ${res.status}`);
}
