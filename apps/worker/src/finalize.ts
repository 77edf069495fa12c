import type { FinalizeJobData } from '@imagefleet/core';
import type { WorkJob } from '@imagefleet/jobs';
import type { WorkerDeps } from './deps.js';
import { storePendingResults, writeManifest } from './manifest.js';
import { batchSummary, writeSummary } from './batch-summary.js';

/**
 * Finishes a batch once every input has an outcome: stores result objects still waiting in Redis,
 * writes manifest.jsonl from the recorded outcomes, then summary.json beside it (both before the
 * batch is marked finished, so a finished batch has both), marks the batch finished, queues the webhook
 * (delivered by its own queue's consumers, so a slow receiver never holds up another batch).
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
      if (batch.webhook && batch.webhookState === 'pending') await deps.jobs.enqueueWebhook(batchId);
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
      const counted = unstorable > 0 ? ((await deps.batches.get(batchId)) ?? batch) : batch;
      const { failed } = counted;
      const { lines, failures } = await writeManifest(deps, batch, store);
      const state = failed > 0 ? 'completed_with_errors' : 'completed';
      const finishedAt = new Date();
      await writeSummary(store, batchSummary(counted, state, finishedAt, failures));
      const finished = await deps.batches.markFinished(batchId, state, finishedAt, { webhook: batch.webhook !== undefined });
      if (finished === 'pending_results') throw new Error('a result object was recorded while the manifest was written; finalizing again');
      if (finished !== 'finished') {
        log.info({ result: finished }, 'finalize: batch not finished');
        return;
      }
      log.info({ state, total: batch.total, failed, lines, stored, unstorable, manifestMs: Math.round(performance.now() - started) }, 'batch finished');
      // The webhook's consumer reads the finished record, counters included.
      if (batch.webhook) await deps.jobs.enqueueWebhook(batchId);
    } catch (error) {
      log.warn({ err: error, attempt: job.attemptsMade + 1 }, 'finalize failed; it is retried');
      await deps.batches.note(batchId, { finalizeError: (error as Error).message ?? String(error) }).catch(() => undefined);
      throw error;
    }
  };
}
