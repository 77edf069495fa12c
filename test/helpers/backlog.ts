import assert from 'node:assert/strict';
import type { JobBackend } from '@imagefleet/jobs';

/** How much of a batch waits, read two ways: the batch's own counter and the job queues. */
export interface Backlog {
  /** total - completed - failed: what the lister's LISTING_AHEAD check reads. */
  counted: number;
  /** Jobs in the input queues not taken by a worker yet (wait, delayed, prioritized). */
  queued: number;
  /** Jobs a worker holds now. */
  active: number;
}

/** The batch's backlog; the queue counts are the whole prefix's, so the fleet must run this batch alone. */
export async function readBacklog(backend: Pick<JobBackend, 'batches' | 'jobs'>, batchId: string): Promise<Backlog> {
  const [{ waiting }, counts] = await Promise.all([backend.batches.waitingInputs(batchId), backend.jobs.counts()]);
  const inputs = counts.filter((queue) => queue.queue === 'images' || queue.queue === 'vlm');
  return {
    counted: waiting,
    queued: inputs.reduce((sum, queue) => sum + queue.counts.wait + queue.counts.delayed + queue.counts.prioritized, 0),
    active: inputs.reduce((sum, queue) => sum + queue.counts.active, 0),
  };
}

/**
 * The backlog never went over the limit: neither the counter nor the jobs no worker took yet; with
 * the active ones at most `concurrency` more (a job whose outcome is recorded stays active until
 * BullMQ moves it to completed). Enough samples to mean something, and the limit was reached.
 */
export function assertBacklogBounded(samples: Backlog[], limit: number, concurrency: number): void {
  assert.ok(samples.length >= 10, `only ${samples.length} backlog samples`);
  const max = (pick: (backlog: Backlog) => number) => Math.max(...samples.map(pick));
  assert.ok(max((b) => b.counted) <= limit, `the batch counted ${max((b) => b.counted)} inputs waiting (limit ${limit})`);
  assert.ok(max((b) => b.queued) <= limit, `${max((b) => b.queued)} jobs waited in the queue (limit ${limit})`);
  assert.ok(max((b) => b.queued + b.active) <= limit + concurrency, `${max((b) => b.queued + b.active)} jobs waited or ran (limit ${limit} + ${concurrency} active)`);
  assert.equal(max((b) => b.counted), limit, 'the listing never reached the limit: nothing was held back');
}
