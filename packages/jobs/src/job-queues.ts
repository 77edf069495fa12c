import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ImageJobData } from '@imagefleet/core';
import { finalizeJobId, webhookJobId, type Queues, type TaskKind } from './queues.js';
import { queuedJobsKey, scanQueuedJobs } from './queued-jobs.js';
import { runFailFast } from './redis.js';

/** Which queue an input goes to: its task kind, and the model a model task asked for (routing). */
export interface JobRoute {
  kind: TaskKind;
  model?: string;
}

/** Who the jobs belong to: the batch whose queued-jobs index lists them (and, for fair share, its weight and lane). */
export interface ShareOf {
  batchId: string;
  weight?: number;
  lane?: 'batch' | 'interactive';
}

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

/** An image queue and whether it is paused (fleet-wide pause). */
export interface ImageQueueState {
  queue: string;
  paused: boolean;
}

/**
 * What apps do with queues, without BullMQ: enqueue a page, (re)trigger a batch's finalize, queue
 * its webhook delivery, remove or hold back a batch's waiting jobs, read a job's state, count jobs,
 * find failed jobs of a batch, pause the image queues.
 */
export interface JobQueueOps {
  /** Indexes the jobs in their batch's queued-jobs index (share.batchId), then one addBulk (ids still present are ignored). */
  enqueueImages(route: JobRoute, share: ShareOf, jobs: ImageJobSpec[]): Promise<void>;
  ensureFinalize(batchId: string, options?: { retryFailedAfterMs?: number; now?: number }): Promise<FinalizeTrigger>;
  /** Queues the batch's webhook delivery; once per batch (a second call while one exists adds nothing). */
  enqueueWebhook(batchId: string): Promise<void>;
  /** Drops the batch's kept webhook job (delivered or failed), so that its next finish (after a retry) notifies again. */
  resetWebhook(batchId: string): Promise<void>;
  /**
   * Removes the jobs of the batch's queued-jobs index that no worker holds (active ones run on),
   * then drops the index; `keepIndex` (pause) keeps it, to enqueue them again on resume. Returns how
   * many jobs were removed.
   */
  removeBatchJobs(route: JobRoute, batchId: string, options?: { keepIndex?: boolean }): Promise<number>;
  /** The batch's queued-jobs index (enqueued, no outcome yet), a page at a time. */
  queuedJobs(batchId: string): AsyncGenerator<ImageJobSpec[]>;
  /** Removes BullMQ's kept jobs with these ids (a failed one is kept a day), so the ids can be enqueued again. */
  removeImageJobs(route: JobRoute, jobIds: string[]): Promise<number>;
  /** Fleet-wide pause: workers take no new job from any image queue (active ones finish); finalize and webhooks go on. */
  setImageQueuesPaused(paused: boolean): Promise<void>;
  /** Every image queue this facade knows, and whether it is paused. */
  imageQueues(): Promise<ImageQueueState[]>;
  imageJob(jobId: string): Promise<ImageJobInfo | undefined>;
  counts(): Promise<{ queue: string; counts: Record<QueueCountState, number> }[]>;
  failedImageJobs(batchId: string): Promise<FailedImageJob[]>;
}

export class JobQueues implements JobQueueOps {
  constructor(
    readonly queues: Queues,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly options: { failFast?: boolean } = {},
  ) {}

  private run<T>(work: () => Promise<T>): Promise<T> {
    return runFailFast(this.redis, this.options.failFast, work);
  }

  /**
   * Indexes the jobs, then one addBulk: ids are derived from batch + key, so a page added twice
   * enqueues nothing new. Two round trips (BullMQ's addBulk is its own MULTI): indexed first, so a
   * job is never waiting without being in its batch's index.
   */
  async enqueueImages(route: JobRoute, share: ShareOf, jobs: ImageJobSpec[]): Promise<void> {
    if (jobs.length === 0) return;
    const entries = jobs.flatMap((job) => [job.jobId, JSON.stringify(job.data)]);
    await this.run(() => this.redis.hset(queuedJobsKey(this.prefix, share.batchId), ...entries));
    await this.run(() => this.queues.forKind(route.kind).addBulk(jobs.map((job) => ({ name: job.name, data: job.data, opts: { jobId: job.jobId } }))));
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

  async resetWebhook(batchId: string): Promise<void> {
    // An active delivery is locked and stays; its job then blocks the next one (see README: retry).
    await this.run(() => this.queues.webhooks.remove(webhookJobId(batchId))).catch(() => 0);
  }

  /** Reads only this batch's queued-jobs index (bounded by LISTING_AHEAD), never the queues' other jobs. */
  async removeBatchJobs(route: JobRoute, batchId: string, options: { keepIndex?: boolean } = {}): Promise<number> {
    let removed = 0;
    for await (const page of this.queuedJobs(batchId)) removed += await this.removeImageJobs(route, page.map((job) => job.jobId));
    if (!options.keepIndex) await this.run(() => this.redis.del(queuedJobsKey(this.prefix, batchId)));
    return removed;
  }

  async *queuedJobs(batchId: string): AsyncGenerator<ImageJobSpec[]> {
    for await (const page of scanQueuedJobs(this.redis, queuedJobsKey(this.prefix, batchId), (work) => this.run(work))) {
      yield page.map(({ jobId, data }) => ({ jobId, name: data.task, data }));
    }
  }

  /** Those that exist (one pipelined EXISTS per page), each removed unless a worker holds it (locked: BullMQ answers 0). */
  async removeImageJobs(route: JobRoute, jobIds: string[]): Promise<number> {
    if (jobIds.length === 0) return 0;
    const queue = this.queues.forKind(route.kind);
    const pipeline = this.redis.pipeline();
    for (const id of jobIds) pipeline.exists(queue.toKey(id));
    const exists = (await this.run(() => pipeline.exec())) ?? [];
    const present = jobIds.filter((_, index) => exists[index]?.[1] === 1);
    const removed = await Promise.all(present.map((id) => this.run(() => queue.remove(id)).catch(() => 0)));
    return removed.reduce<number>((sum, code) => sum + (code === 1 ? 1 : 0), 0);
  }

  async setImageQueuesPaused(paused: boolean): Promise<void> {
    await this.run(() => Promise.all(this.queues.imageQueues().map((queue: Queue) => (paused ? queue.pause() : queue.resume()))));
  }

  async imageQueues(): Promise<ImageQueueState[]> {
    return this.run(() => Promise.all(this.queues.imageQueues().map(async (queue) => ({ queue: queue.name, paused: await queue.isPaused() }))));
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
