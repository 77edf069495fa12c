import { Readable } from 'node:stream';
import type { Job } from 'bullmq';
import type { FinalizeJobData } from '@imagefleet/core';
import { toBatchStatus } from '@imagefleet/jobs';
import { resultLayout, streamResultLines } from '@imagefleet/storage';
import type { WorkerDeps } from './deps.js';
import { deliverWebhook } from './webhook.js';

/**
 * Runs once per batch, after its last input: writes manifest.jsonl (one line per input, streamed),
 * then marks the batch finished and fires the webhook. A crash before markFinished re-runs it
 * (the manifest is rewritten whole), so the manifest is never partial once the batch says done.
 */
export function createFinalizeProcessor(deps: WorkerDeps) {
  return async (job: Job<FinalizeJobData>): Promise<void> => {
    const { batchId } = job.data;
    const log = deps.logger.child({ jobId: job.id, batchId });
    const batch = await deps.batches.get(batchId);
    if (!batch || batch.state !== 'running') {
      log.info({ state: batch?.state ?? 'missing' }, 'finalize skipped: batch not running');
      return;
    }
    const store = deps.stores.open(batch.resultsUrl);
    const started = performance.now();
    await store.putStream(resultLayout.manifestKey(batchId), Readable.from(streamResultLines(store, batchId)), {
      contentType: 'application/x-ndjson',
    });
    const state = batch.failed > 0 ? 'completed_with_errors' : 'completed';
    const finishedAt = new Date();
    if (!(await deps.batches.markFinished(batchId, state, finishedAt))) return;
    // Counters cannot move once every input has an outcome: the record read above is final.
    const summary = toBatchStatus({ ...batch, state, finishedAt: finishedAt.toISOString() });
    log.info({ state, total: batch.total, failed: batch.failed, manifestMs: Math.round(performance.now() - started) }, 'batch finished');
    if (batch.webhook) {
      const manifest = `${batch.resultsUrl}/${resultLayout.manifestKey(batchId)}`;
      await deliverWebhook(batch.webhook, { event: 'batch.finished', batch: summary, manifest }, {
        attempts: deps.config.webhookAttempts,
        timeoutMs: deps.config.webhookTimeoutMs,
        backoffMs: deps.config.jobBackoffMs,
      }, log);
    }
  };
}
