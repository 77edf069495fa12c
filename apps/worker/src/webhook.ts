import type { Readable } from 'node:stream';
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import { WebhookRefusedError, type WebhookAddressPolicy } from '@imagefleet/core';
import { pinnedLookup, resolveWebhookTarget } from './webhook-target.js';

/** Bytes of a receiver's answer read at most; the rest is dropped with the connection. */
export const WEBHOOK_RESPONSE_LIMIT = 64 * 1024;

/** One signed message: the same id on every attempt, so receivers can drop repeats. */
export interface WebhookMessage {
  url: string;
  /** Standard Webhooks secret, whsec_<base64>. */
  secret: string;
  id: string;
  body: string;
}

export interface DeliveryOptions {
  timeoutMs: number;
  policy: WebhookAddressPolicy;
}

export type DeliveryResult =
  | { delivered: true; status: number }
  /** permanent: trying again cannot help (the target is refused). */
  | { delivered: false; permanent: boolean; reason: string; status?: number };

/** The Standard Webhooks headers of one attempt: webhook-id, webhook-timestamp (seconds), webhook-signature (v1,<base64 HMAC-SHA256>). */
export function signatureHeaders(message: Pick<WebhookMessage, 'secret' | 'id' | 'body'>, at = new Date()): Record<string, string> {
  return {
    'webhook-id': message.id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(message.secret).sign(message.id, at, message.body),
  };
}

/** Reads at most `limit` bytes of a response body; returning early destroys the stream. */
async function readAtMost(body: Readable, limit: number): Promise<number> {
  let read = 0;
  for await (const chunk of body) {
    read += (chunk as Buffer).length;
    if (read >= limit) break;
  }
  return read;
}

/**
 * One delivery attempt: resolves and vets the target, connects to the vetted address only, POSTs
 * the signed body, reads at most 64 KiB of the answer, follows no redirect (a 3xx is a failed
 * attempt). Delivered on a 2xx. Never throws.
 */
export async function deliverWebhook(message: WebhookMessage, options: DeliveryOptions): Promise<DeliveryResult> {
  let agent: Agent | undefined;
  try {
    const url = new URL(message.url);
    const target = await resolveWebhookTarget(url, options.policy);
    agent = new Agent({ connect: { lookup: pinnedLookup(target) }, pipelining: 0 });
    const response = await request(url, {
      method: 'POST',
      dispatcher: agent,
      signal: AbortSignal.timeout(options.timeoutMs),
      headers: { 'content-type': 'application/json', 'user-agent': 'imagefleet-webhook', ...signatureHeaders(message) },
      body: message.body,
    });
    await readAtMost(response.body, WEBHOOK_RESPONSE_LIMIT);
    const status = response.statusCode;
    if (status >= 200 && status < 300) return { delivered: true, status };
    const redirect = status >= 300 && status < 400 ? ' (redirects are not followed)' : '';
    return { delivered: false, permanent: false, status, reason: `the receiver answered ${status}${redirect}` };
  } catch (error) {
    return { delivered: false, permanent: error instanceof WebhookRefusedError, reason: (error as Error).message ?? String(error) };
  } finally {
    await agent?.destroy().catch(() => undefined);
  }
}
