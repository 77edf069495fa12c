import type { FinalizeJobData, Logger } from '@imagefleet/core';
import { toBatchStatus, type BatchRecord, type WorkJob } from '@imagefleet/jobs';
import { resultLayout } from '@imagefleet/storage';
import type { WorkerDeps } from './deps.js';
import { storePendingResults, writeManifest } from './manifest.js';
import { deliverWebhook } from './webhook.js';

/**
 * Finishes a batch once every input has an outcome: stores result objects still waiting in Redis,
 * writes manifest.jsonl from the recorded outcomes, marks the batch finished, fires the webhook.
 * Idempotent and resumable: any failure leaves the batch running with its manifest absent or
 * complete, and a re-run (BullMQ's retries, then the reconciler) starts over. A skipped run (not
 * all inputs done yet, already finished) does nothing.
 */
export function createFinalizeProcessor(deps: WorkerDeps) {
  return async (job: WorkJob<FinalizeJobData>): Promise<void> => {
    const { batchId } = job.data;
    const log = deps.logger.child({ jobId: job.id, batchId });
    const batch = await deps.batches.get(batchId);
    if (batch && (batch.state === 'completed' || batch.state === 'completed_with_errors')) {
      if (batch.webhook && batch.webhookState === 'pending') await sendWebhook(deps, batch, log);
      return;
    }
    if (!batch || batch.state !== 'running') {
      log.info({ state: batch?.state ?? 'missing' }, 'finalize skipped: batch not running');
      return;
    }
    const done = batch.completed + batch.failed;
    if (done < batch.total) {
      log.info({ done, total: batch.total }, 'finalize skipped: inputs still without an outcome');
      return;
    }
    const started = performance.now();
    try {
      const store = deps.stores.open(batch.resultsUrl);
      const { stored, unstorable } = await storePendingResults(deps, batch, store, log);
      // A refused result object turned an ok outcome into a failure: the counters moved.
      const failed = unstorable > 0 ? ((await deps.batches.get(batchId))?.failed ?? batch.failed) : batch.failed;
      const lines = await writeManifest(deps, batch, store);
      const state = failed > 0 ? 'completed_with_errors' : 'completed';
      const finishedAt = new Date();
      const finished = await deps.batches.markFinished(batchId, state, finishedAt, { webhook: batch.webhook !== undefined });
      if (finished === 'pending_results') throw new Error('a result object was recorded while the manifest was written; finalizing again');
      if (finished !== 'finished') {
        log.info({ result: finished }, 'finalize: batch not finished');
        return;
      }
      log.info({ state, total: batch.total, failed, lines, stored, unstorable, manifestMs: Math.round(performance.now() - started) }, 'batch finished');
      // Counters cannot move once every input has an outcome: the record read above is final.
      if (batch.webhook) await sendWebhook(deps, { ...batch, completed: batch.completed - (failed - batch.failed), failed, state, finishedAt: finishedAt.toISOString() }, log);
    } catch (error) {
      log.warn({ err: error, attempt: job.attemptsMade + 1 }, 'finalize failed; it is retried');
      await deps.batches.note(batchId, { finalizeError: (error as Error).message ?? String(error) }).catch(() => undefined);
      throw error;
    }
  };
}

/** Delivers the batch.finished webhook (retries inside; never throws) and notes that it was tried. */
async function sendWebhook(deps: WorkerDeps, batch: BatchRecord, log: Logger): Promise<void> {
  const manifest = `${batch.resultsUrl}/${resultLayout.manifestKey(batch.id)}`;
  const delivered = await deliverWebhook(batch.webhook!, { event: 'batch.finished', batch: toBatchStatus(batch), manifest }, {
    attempts: deps.config.webhookAttempts,
    timeoutMs: deps.config.webhookTimeoutMs,
    backoffMs: deps.config.jobBackoffMs,
  }, log);
  await deps.batches.note(batch.id, { webhookState: delivered ? 'delivered' : 'failed' }).catch((error: unknown) => log.warn({ err: error }, 'could not note the webhook delivery'));
}
