import type { Logger } from '@imagefleet/core';

export interface WebhookPolicy {
  attempts: number;
  timeoutMs: number;
  backoffMs: number;
}

/** POSTs JSON with retries and exponential backoff. Returns whether it was delivered; never throws. */
export async function deliverWebhook(url: string, payload: unknown, policy: WebhookPolicy, log: Logger): Promise<boolean> {
  const body = JSON.stringify(payload);
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'imagefleet' },
        body,
        signal: AbortSignal.timeout(policy.timeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) {
        log.info({ attempt, status: response.status }, 'webhook delivered');
        return true;
      }
      log.warn({ attempt, status: response.status }, 'webhook answered with an error status');
    } catch (error) {
      log.warn({ attempt, err: error }, 'webhook delivery failed');
    }
    if (attempt < policy.attempts) await new Promise((resolve) => setTimeout(resolve, policy.backoffMs * 2 ** (attempt - 1)));
  }
  log.error({ attempts: policy.attempts }, 'webhook not delivered; the batch result is unaffected');
  return false;
}
