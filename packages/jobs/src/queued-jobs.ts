import type { Redis } from 'ioredis';
import type { ImageJobData } from '@imagefleet/core';

/**
 * A batch's queued-jobs index: job id -> the job's data JSON (batch id, task, source ref, results
 * location), for every input enqueued and still without an outcome. enqueueImages writes it before
 * the addBulk; the Lua step that records an outcome (claimOutcome) removes the input; markFinished
 * drops it, cancel gives it the batch's TTL. The lister keeps at most LISTING_AHEAD inputs of a
 * batch waiting, so it holds at most that many: cancel, pause and resume read it instead of
 * scanning every waiting job of the queues.
 */
export const queuedJobsKey = (prefix: string, batchId: string): string => `${prefix}:batch:${batchId}:queued`;

/** One indexed input, as enqueued. */
export interface QueuedJob {
  jobId: string;
  data: ImageJobData;
}

/** The index's entries, a page at a time (HSCAN: entries present throughout are returned at least once). */
export async function* scanQueuedJobs(redis: Redis, key: string, run: <T>(work: () => Promise<T>) => Promise<T>, pageSize = 1000): AsyncGenerator<QueuedJob[]> {
  let cursor = '0';
  do {
    const [next, flat] = await run(() => redis.hscan(key, cursor, 'COUNT', pageSize));
    cursor = next;
    const page: QueuedJob[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) page.push({ jobId: flat[i]!, data: JSON.parse(flat[i + 1]!) as ImageJobData });
    if (page.length > 0) yield page;
  } while (cursor !== '0');
}
