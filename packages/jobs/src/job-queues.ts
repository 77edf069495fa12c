import type { Redis } from 'ioredis';
import type { ImageJobData } from '@imagefleet/core';
import { finalizeJobId, webhookJobId, type Queues, type TaskKind } from './queues.js';
import { runFailFast } from './redis.js';

/** One input to enqueue: its derived job id and what the worker needs. */
export interface ImageJobSpec {
  jobId: string;
  /** The task name (shown by BullMQ tooling). */
  name: string;
  data: ImageJobData;
}

export type JobState = 'waiting' | 'active' | 'delayed' | 'prioritized' | 'completed' | 'failed' | 'waiting-children' | 'unknown';

/** A job that BullMQ failed for good, as the reconciler needs it. */
export interface FailedImageJob {
  id: string;
  data: ImageJobData;
  failedReason: string;
}

/** An image job as GET /v1/jobs/:id and tests see it. */
export interface ImageJobInfo {
  state: JobState;
  data: ImageJobData;
  /** Runs started (stalled ones included); attempts that failed. */
  attemptsStarted: number;
  attemptsMade: number;
  failedReason: string | undefined;
}

export type FinalizeTrigger = 'added' | 'exists' | 'retried' | 'retry_later';

export const QUEUE_STATES = ['wait', 'active', 'delayed', 'prioritized', 'completed', 'failed'] as const;
export type QueueCountState = (typeof QUEUE_STATES)[number];

/**
 * What apps do with queues, without BullMQ: enqueue a page, (re)trigger a batch's finalize, queue
 * its webhook delivery, remove
 * a batch's waiting jobs, read a job's state, count jobs, find failed jobs of a batch.
 */
export interface JobQueueOps {
  enqueueImages(kind: TaskKind, jobs: ImageJobSpec[]): Promise<void>;
  /**
   * Enqueues the page jobs of one document (a worker splits it once it has read its bytes); ids
   * derived from batch + `<key>#page=<n>`, so enqueueing them again adds nothing.
   */
  enqueuePages(kind: TaskKind, pages: ImageJobSpec[]): Promise<void>;
  ensureFinalize(batchId: string, options?: { retryFailedAfterMs?: number; now?: number }): Promise<FinalizeTrigger>;
  /** Queues the batch's webhook delivery; once per batch (a second call while one exists adds nothing). */
  enqueueWebhook(batchId: string): Promise<void>;
  removeBatchJobs(batchId: string): Promise<number>;
  imageJob(jobId: string): Promise<ImageJobInfo | undefined>;
  counts(): Promise<{ queue: string; counts: Record<QueueCountState, number> }[]>;
  failedImageJobs(batchId: string): Promise<FailedImageJob[]>;
}

export class JobQueues implements JobQueueOps {
  constructor(
    readonly queues: Queues,
    private readonly redis: Redis,
    private readonly options: { failFast?: boolean } = {},
  ) {}

  private run<T>(work: () => Promise<T>): Promise<T> {
    return runFailFast(this.redis, this.options.failFast, work);
  }

  /** One addBulk: ids are derived from batch + key, so a page added twice enqueues nothing new. */
  async enqueueImages(kind: TaskKind, jobs: ImageJobSpec[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.run(() => this.queues.forKind(kind).addBulk(jobs.map((job) => ({ name: job.name, data: job.data, opts: { jobId: job.jobId } }))));
  }

  /** One addBulk, as for a listed page: a document's pages wait in the same queue as images. */
  async enqueuePages(kind: TaskKind, pages: ImageJobSpec[]): Promise<void> {
    if (pages.length === 0) return;
    await this.run(() => this.queues.forKind(kind).addBulk(pages.map((page) => ({ name: page.name, data: page.data, opts: { jobId: page.jobId } }))));
  }

  /**
   * Makes sure the batch's finalize job is queued or running. A failed one (attempts spent) is
   * retried, once it has been failed for `retryFailedAfterMs`; a missing one is added. The id is
   * fixed (finalize-<batchId>), so racing callers add it once.
   */
  async ensureFinalize(batchId: string, options: { retryFailedAfterMs?: number; now?: number } = {}): Promise<FinalizeTrigger> {
    return this.run(async () => {
      const id = finalizeJobId(batchId);
      const job = await this.queues.finalize.getJob(id);
      if (job) {
        const state = await job.getState();
        if (state === 'failed') {
          const since = job.finishedOn ?? 0;
          if ((options.now ?? Date.now()) - since < (options.retryFailedAfterMs ?? 0)) return 'retry_later';
          await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
          return 'retried';
        }
        // Completed ones are removed on completion; one caught in between is replaced.
        if (state !== 'completed' && state !== 'unknown') return 'exists';
        await job.remove().catch(() => undefined);
      }
      await this.queues.finalize.add('finalize', { batchId }, { jobId: id });
      return 'added';
    });
  }

  /** The fixed id makes BullMQ ignore a second add while the first job is kept (a day, see webhookJobOptions). */
  async enqueueWebhook(batchId: string): Promise<void> {
    await this.run(() => this.queues.webhooks.add('webhook', { batchId }, { jobId: webhookJobId(batchId) }));
  }

  /** Removes the batch's jobs that no worker has taken yet; active ones see the cancelled state and stop. */
  async removeBatchJobs(batchId: string): Promise<number> {
    let removed = 0;
    for (const queue of [this.queues.images, this.queues.vlm]) {
      const ids: string[] = [];
      const pageSize = 1000;
      for (let start = 0; ; start += pageSize) {
        const jobs = await this.run(() => queue.getJobs(['wait', 'delayed', 'prioritized'], start, start + pageSize - 1, true));
        for (const job of jobs) if (job?.data?.batchId === batchId && job.id) ids.push(job.id);
        if (jobs.length < pageSize) break;
      }
      // A job taken by a worker since it was listed is locked and cannot be removed: it skips itself.
      for (const id of ids) removed += await queue.remove(id).catch(() => 0);
    }
    return removed;
  }

  /** The state and data of an image job in either queue, or undefined. */
  async imageJob(jobId: string): Promise<ImageJobInfo | undefined> {
    return this.run(async () => {
      for (const queue of [this.queues.images, this.queues.vlm]) {
        const job = await queue.getJob(jobId);
        if (job) {
          const state = (await job.getState()) as JobState;
          return { state, data: job.data, attemptsStarted: job.attemptsStarted, attemptsMade: job.attemptsMade, failedReason: job.failedReason || undefined };
        }
      }
      return undefined;
    });
  }

  async counts(): Promise<{ queue: string; counts: Record<QueueCountState, number> }[]> {
    return this.run(() =>
      Promise.all(
        [this.queues.images, this.queues.vlm, this.queues.finalize, this.queues.webhooks].map(async (queue) => ({
          queue: queue.name,
          counts: (await queue.getJobCounts(...QUEUE_STATES)) as Record<QueueCountState, number>,
        })),
      ),
    );
  }

  /** Image jobs of this batch that BullMQ failed for good (ZSCAN of the failed sets, matched by id prefix). */
  async failedImageJobs(batchId: string): Promise<FailedImageJob[]> {
    const failed: FailedImageJob[] = [];
    for (const queue of [this.queues.images, this.queues.vlm]) {
      let cursor = '0';
      do {
        const [next, flat] = await this.run(() => this.redis.zscan(queue.keys.failed!, cursor, 'MATCH', `${batchId}-*`, 'COUNT', 1000));
        cursor = next;
        for (let i = 0; i < flat.length; i += 2) {
          const job = await this.run(() => queue.getJob(flat[i]!));
          if (job?.id) failed.push({ id: job.id, data: job.data, failedReason: job.failedReason ?? '' });
        }
      } while (cursor !== '0');
    }
    return failed;
  }
}
