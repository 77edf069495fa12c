import { webhookPolicyOf, type WebhookJobData } from '@imagefleet/core';
import { FailJob, toBatchStatus, type BatchRecord, type WorkJob } from '@imagefleet/jobs';
import type { WorkerDeps } from './deps.js';
import { deliverWebhook, type WebhookMessage } from './webhook.js';

/** The batch.finished message: the batch's status and the API path of its results, no storage locations. */
export function batchFinishedMessage(batch: BatchRecord & { webhook: string; webhookSecret: string }): WebhookMessage {
  const payload = { event: 'batch.finished', batch: toBatchStatus(batch), results: `/v1/batches/${encodeURIComponent(batch.id)}/results` };
  // One id per batch run: the same on every attempt, another when an expired batch id is reused or
  // the batch finishes again after a retry of its failed inputs.
  const run = batch.retries > 0 ? `_r${batch.retries}` : '';
  return { url: batch.webhook, secret: batch.webhookSecret, id: `msg_${batch.id}_${Date.parse(batch.createdAt)}${run}`, body: JSON.stringify(payload) };
}

/**
 * Delivers a finished batch's webhook, one attempt per run of the job: a failed attempt throws so
 * that BullMQ retries it with backoff (WEBHOOK_ATTEMPTS); a refused target or the last attempt
 * notes webhookState 'failed' and fails the job. Success notes 'delivered'. The batch itself is
 * never touched otherwise.
 */
export function createWebhookProcessor(deps: WorkerDeps) {
  const policy = webhookPolicyOf(deps.config);
  return async (job: WorkJob<WebhookJobData>): Promise<void> => {
    const { batchId } = job.data;
    const log = deps.logger.child({ jobId: job.id, batchId });
    const batch = await deps.batches.get(batchId);
    if (!batch?.webhook || !batch.webhookSecret || batch.webhookState !== 'pending') {
      log.info({ webhookState: batch?.webhookState ?? 'missing' }, 'webhook skipped: nothing pending');
      return;
    }
    const attempt = job.attemptsMade + 1;
    const result = await deliverWebhook(batchFinishedMessage({ ...batch, webhook: batch.webhook, webhookSecret: batch.webhookSecret }), { timeoutMs: deps.config.webhookTimeoutMs, policy });
    if (result.delivered) {
      log.info({ attempt, status: result.status }, 'webhook delivered');
      await deps.batches.note(batchId, { webhookState: 'delivered' });
      return;
    }
    const final = result.permanent || attempt >= job.attempts;
    log.warn({ attempt, status: result.status, reason: result.reason, final }, 'webhook not delivered');
    if (!final) throw new Error(`webhook not delivered: ${result.reason}`);
    await deps.batches.note(batchId, { webhookState: 'failed' });
    log.error({ attempts: attempt }, 'webhook not delivered for good; the batch result is unaffected');
    throw new FailJob(`webhook not delivered: ${result.reason}`);
  };
}
