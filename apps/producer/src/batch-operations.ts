import type { Logger } from '@imagefleet/core';
import { batchShare, inputJobSpec, type BatchRecord, type ImageJobSpec, type JobBackend } from '@imagefleet/jobs';
import { routeOf } from './batch-jobs.js';

/** Jobs enqueued (and old ones removed) per call when a retry puts failed inputs back. */
const RETRY_PAGE = 1000;

export type PauseOutcome = { result: 'paused'; held: number } | { result: 'wrong_state' | 'missing' };
export type ResumeOutcome = { result: 'resumed'; requeued: number } | { result: 'wrong_state' | 'missing' };
export type RetryOutcome = { result: 'retried'; retried: number } | { result: 'wrong_state' | 'nothing_failed' };

/** Starts a batch's lister here (BatchLister.start: a no-op while another producer holds the lock). */
export interface ListerStarter {
  start(batchId: string): void;
}

/**
 * Pause, resume and retry of one batch: each is a Lua step on the batch record (the state change
 * is atomic and decides races), then queue work on the batch's own jobs only, found through its
 * queued-jobs index (never a scan of other batches' jobs).
 */
export class BatchOperations {
  constructor(
    private readonly backend: Pick<JobBackend, 'batches' | 'jobs'>,
    private readonly lister: ListerStarter,
    private readonly logger: Logger,
  ) {}

  /**
   * listing | running -> paused. Its waiting jobs leave the queues but stay indexed; jobs a worker
   * already holds finish (a worker that takes one in the race just runs it). The lister sees the
   * state at its next chunk or poll and stops, releasing its lock.
   */
  async pause(batch: BatchRecord): Promise<PauseOutcome> {
    const result = await this.backend.batches.pause(batch.id);
    if (result !== 'paused') return { result };
    const held = await this.backend.jobs.removeBatchJobs(routeOf(batch), batch.id, { keepIndex: true });
    this.logger.info({ batchId: batch.id, from: batch.state, held }, 'batch paused');
    return { result, held };
  }

  /**
   * paused -> the state it had. Its indexed jobs without an outcome are enqueued again (ids still
   * present are ignored); a listing batch gets its lister back (here, or the reconciler's once the
   * old lock is free); a running batch whose inputs all finished meanwhile is finalized.
   */
  async resume(batch: BatchRecord): Promise<ResumeOutcome> {
    const result = await this.backend.batches.resume(batch.id);
    if (result !== 'resumed' && result !== 'resumed_complete') return { result };
    const requeued = await this.requeue(batch);
    if (batch.pausedFrom === 'listing') this.lister.start(batch.id);
    if (result === 'resumed_complete') await this.backend.jobs.ensureFinalize(batch.id);
    this.logger.info({ batchId: batch.id, to: batch.pausedFrom, requeued }, 'batch resumed');
    return { result: 'resumed', requeued };
  }

  /**
   * Enqueues again the batch's indexed jobs that have no outcome, through the lister's own call:
   * after a resume, and from the reconciler for a running batch that stopped moving (a producer
   * that died between a state change and its queue work). Returns how many were offered.
   */
  async requeue(batch: BatchRecord): Promise<number> {
    const { batches, jobs } = this.backend;
    const batchId = batch.id;
    const route = routeOf(batch);
    let offered = 0;
    for await (const page of jobs.queuedJobs(batchId)) {
      const finished = await batches.finishedJobIds(batchId, page.map((job) => job.jobId));
      const specs = page.filter((job) => !finished.has(job.jobId));
      await jobs.enqueueImages(route, batchShare(batch), specs);
      offered += specs.length;
    }
    return offered;
  }

  /**
   * completed_with_errors -> running with its failed and unstorable inputs run again: one Lua step
   * takes their outcomes back, then their old BullMQ jobs (a failed one is kept a day under the same
   * id, which would make addBulk ignore the new one) are removed and new ones enqueued. The kept
   * webhook job is dropped, so the batch notifies again when it finishes; finalize rewrites the
   * manifest. Job data is rebuilt from the batch record and the outcome's key.
   */
  async retry(batch: BatchRecord): Promise<RetryOutcome> {
    const { batches, jobs } = this.backend;
    if (batch.state !== 'completed_with_errors') return { result: 'wrong_state' };
    const inputs: ImageJobSpec[] = [];
    for await (const page of batches.outcomes(batch.id)) {
      // A split document's outcome (`document`) is no failure: its pages have outcomes of their own.
      for (const outcome of page) if (outcome.status === 'failed' || outcome.status === 'unstorable') inputs.push(inputJobSpec(batch, outcome.key));
    }
    const retried = await batches.reopenFailed(batch.id, batch.createdAt, inputs.map((spec) => ({ jobId: spec.jobId, data: JSON.stringify(spec.data) })));
    if (retried === undefined) return { result: 'wrong_state' };
    if (retried === 0) return { result: 'nothing_failed' };
    if (batch.webhook) await jobs.resetWebhook(batch.id);
    const route = routeOf(batch);
    for (let start = 0; start < inputs.length; start += RETRY_PAGE) {
      const page = inputs.slice(start, start + RETRY_PAGE);
      await jobs.removeImageJobs(route, page.map((spec) => spec.jobId));
      await jobs.enqueueImages(route, batchShare(batch), page);
    }
    this.logger.info({ batchId: batch.id, retried }, 'batch retry: failed inputs enqueued again');
    return { result: 'retried', retried };
  }
}
