import { ImagefleetError, type ImageJobData, type Logger } from '@imagefleet/core';
import { PostponeJob, type WorkJob } from '@imagefleet/jobs';
import type { WorkerDeps } from './deps.js';

/** Longest wait between two tries of an input that waits out a storage outage. */
export const MAX_STORAGE_POSTPONE_MS = 30_000;

/**
 * A storage error (S3 down, timing out, 5xx) says nothing about the input. Within
 * STORAGE_OUTAGE_WINDOW_MS of its first such error the input is postponed with backoff, using
 * up no attempt (a PostponeJob to throw); after that it ends with the coded failure
 * storage_unavailable (the error to record). With a window of 0 the error is returned as is and
 * uses attempts like any other.
 */
export async function storageErrorDecision(
  deps: WorkerDeps,
  job: WorkJob<ImageJobData>,
  error: ImagefleetError,
  log: Logger,
  now = Date.now(),
): Promise<PostponeJob | ImagefleetError> {
  const windowMs = deps.config.storageOutageWindowMs;
  if (windowMs === 0) return error;
  const since = job.data.storageErrorSince ?? now;
  if (now - since >= windowMs) {
    return new ImagefleetError(
      'storage_unavailable',
      `Storage kept failing for ${Math.round((now - since) / 1000)} s, longer than STORAGE_OUTAGE_WINDOW_MS (${windowMs} ms): ${error.message}`,
      { cause: error },
    );
  }
  const postponements = (job.data.storagePostponements ?? 0) + 1;
  const delayMs = Math.min(Math.max(deps.config.jobBackoffMs, 100) * 2 ** Math.min(postponements - 1, 20), MAX_STORAGE_POSTPONE_MS);
  await job.updateData({ ...job.data, storageErrorSince: since, storagePostponements: postponements });
  // For the batch status ("waiting for storage"); a failed note changes nothing about the input.
  await deps.batches.note(job.data.batchId, { storageWaitAt: now, storageError: error.message }).catch(() => undefined);
  log.warn({ key: job.data.source.key, err: error, delayMs, waitingMs: now - since }, 'storage error: input postponed without using an attempt');
  return new PostponeJob(delayMs, error.message);
}
