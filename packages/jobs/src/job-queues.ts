import type { Redis } from 'ioredis';
import type { ImageJobData } from '@imagefleet/core';
import type { Queue } from 'bullmq';
import { finalizeJobId, modelQueuesKey, routedModel, webhookJobId, type Queues, type TaskKind } from './queues.js';
import { runFailFast } from './redis.js';
import type { FairShare } from './fair-share.js';

/** Which queue an input goes to: its task kind, and the model a model task asked for (routing). */
export interface JobRoute {
  kind: TaskKind;
  model?: string;
}

/**
 * Who the jobs belong to, for fair share: their batch, its weight (the batch's `priority`, jobs
 * per round; default 1), and its lane ('interactive' for uploads: one lane per queue, weighted by
 * INTERACTIVE_SHARE; default 'batch').
 */
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

/** One queue's job counts; `model` names the model of a model's own queue. */
export interface QueueCounts {
  queue: string;
  model?: string;
  counts: Record<QueueCountState, number>;
}

/**
 * What apps do with queues, without BullMQ: enqueue a page, (re)trigger a batch's finalize, queue
 * its webhook delivery, remove
 * a batch's waiting jobs, read a job's state, count jobs, find failed jobs of a batch. Methods that
 * look a batch's jobs up take its route (the queue its inputs went to).
 */
export interface JobQueueOps {
  /** Enqueues a page of a batch's inputs, each with its fair-share priority (see fair-share.ts). */
  enqueueImages(route: JobRoute, share: ShareOf, jobs: ImageJobSpec[]): Promise<void>;
  ensureFinalize(batchId: string, options?: { retryFailedAfterMs?: number; now?: number }): Promise<FinalizeTrigger>;
  /** Queues the batch's webhook delivery; once per batch (a second call while one exists adds nothing). */
  enqueueWebhook(batchId: string): Promise<void>;
  removeBatchJobs(batchId: string, route: JobRoute): Promise<number>;
  imageJob(jobId: string, route: JobRoute): Promise<ImageJobInfo | undefined>;
  /** Every queue: images, vlm, each model's queue ever used, finalize, webhooks. */
  counts(): Promise<QueueCounts[]>;
  failedImageJobs(batchId: string, route: JobRoute): Promise<FailedImageJob[]>;
}

export class JobQueues implements JobQueueOps {
  constructor(
    readonly queues: Queues,
    private readonly redis: Redis,
    private readonly fairShare: FairShare,
    private readonly options: { failFast?: boolean } = {},
  ) {}

  private run<T>(work: () => Promise<T>): Promise<T> {
    return runFailFast(this.redis, this.options.failFast, work);
  }

  /**
   * One addBulk, each job with its round as BullMQ priority: ids are derived from batch + key, so a
   * page added twice enqueues nothing new (its rounds are spent all the same: the batch's share
   * moves on a little). A model's queue is recorded before its first jobs go in, so counts never
   * miss them.
   */
  async enqueueImages(route: JobRoute, share: ShareOf, jobs: ImageJobSpec[]): Promise<void> {
    if (jobs.length === 0) return;
    const queue = this.queues.forRoute(route);
    const model = routedModel(route);
    await this.run(async () => {
      if (model !== undefined) await this.redis.sadd(modelQueuesKey(this.queues.prefix), model);
      const priorities = await this.fairShare.priorities(queue, share, jobs.length);
      await queue.addBulk(jobs.map((job, index) => ({ name: job.name, data: job.data, opts: { jobId: job.jobId, priority: priorities[index] } })));
    });
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
  async removeBatchJobs(batchId: string, route: JobRoute): Promise<number> {
    const queue = this.queues.forRoute(route);
    const ids: string[] = [];
    const pageSize = 1000;
    for (let start = 0; ; start += pageSize) {
      const jobs = await this.run(() => queue.getJobs(['wait', 'delayed', 'prioritized'], start, start + pageSize - 1, true));
      for (const job of jobs) if (job?.data?.batchId === batchId && job.id) ids.push(job.id);
      if (jobs.length < pageSize) break;
    }
    // A job taken by a worker since it was listed is locked and cannot be removed: it skips itself.
    let removed = 0;
    for (const id of ids) removed += await queue.remove(id).catch(() => 0);
    return removed;
  }

  /** The state and data of an image job in its batch's queue, or undefined. */
  async imageJob(jobId: string, route: JobRoute): Promise<ImageJobInfo | undefined> {
    return this.run(async () => {
      const job = await this.queues.forRoute(route).getJob(jobId);
      if (!job) return undefined;
      const bullState = (await job.getState()) as JobState;
      // Every image job waits in BullMQ's prioritized set (fair share): to callers it is waiting.
      const state = bullState === 'prioritized' ? 'waiting' : bullState;
      return { state, data: job.data, attemptsStarted: job.attemptsStarted, attemptsMade: job.attemptsMade, failedReason: job.failedReason || undefined };
    });
  }

  async counts(): Promise<QueueCounts[]> {
    return this.run(async () => {
      const models = (await this.redis.smembers(modelQueuesKey(this.queues.prefix))).sort();
      const queues: [Queue, string | undefined][] = [
        [this.queues.images, undefined],
        [this.queues.vlm, undefined],
        ...models.map((model): [Queue, string] => [this.queues.forRoute({ kind: 'model', model }), model]),
        [this.queues.finalize, undefined],
        [this.queues.webhooks, undefined],
      ];
      return Promise.all(
        queues.map(async ([queue, model]) => ({
          queue: queue.name,
          ...(model === undefined ? {} : { model }),
          counts: (await queue.getJobCounts(...QUEUE_STATES)) as Record<QueueCountState, number>,
        })),
      );
    });
  }

  /** Image jobs of this batch that BullMQ failed for good (ZSCAN of its queue's failed set, matched by id prefix). */
  async failedImageJobs(batchId: string, route: JobRoute): Promise<FailedImageJob[]> {
    const failed: FailedImageJob[] = [];
    const queue = this.queues.forRoute(route);
    let cursor = '0';
    do {
      const [next, flat] = await this.run(() => this.redis.zscan(queue.keys.failed!, cursor, 'MATCH', `${batchId}-*`, 'COUNT', 1000));
      cursor = next;
      for (let i = 0; i < flat.length; i += 2) {
        const job = await this.run(() => queue.getJob(flat[i]!));
        if (job?.id) failed.push({ id: job.id, data: job.data, failedReason: job.failedReason ?? '' });
      }
    } while (cursor !== '0');
    return failed;
  }
}
