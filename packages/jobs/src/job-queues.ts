import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ImageJobData } from '@imagefleet/core';
import { finalizeJobId, modelQueuesKey, routedModel, webhookJobId, type Queues, type TaskKind } from './queues.js';
import { queuedJobsKey, scanQueuedJobs } from './queued-jobs.js';
import { runFailFast } from './redis.js';
import type { BatchRecord } from './batch-record.js';
import type { FairShare } from './fair-share.js';

/** Which queue an input goes to: its task kind, and the model a model task asked for (routing). */
export interface JobRoute {
  kind: TaskKind;
  model?: string;
}

/**
 * Who the jobs belong to: the batch whose queued-jobs index lists them; for fair share, its weight
 * (the batch's `priority`, jobs per round; default 1) and its lane ('interactive' for uploads: one
 * lane per queue, weighted by INTERACTIVE_SHARE; default 'batch').
 */
export interface ShareOf {
  batchId: string;
  weight?: number;
  lane?: 'batch' | 'interactive';
}

/** A batch's queue, given its task's kind: a model task that named a model goes to that model's queue. */
export function batchRoute(batch: Pick<BatchRecord, 'model'>, kind: TaskKind): JobRoute {
  return kind === 'model' && batch.model !== undefined ? { kind, model: batch.model } : { kind };
}

/** A batch's fair share: uploads (one-input batches) share the queue's interactive lane; a batch is served by its weight. */
export function batchShare(batch: Pick<BatchRecord, 'id' | 'source' | 'priority'>): ShareOf {
  return 'upload' in batch.source ? { batchId: batch.id, lane: 'interactive' } : { batchId: batch.id, weight: batch.priority };
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

/** An image queue and whether it is paused (fleet-wide pause). */
export interface ImageQueueState {
  queue: string;
  paused: boolean;
}

/**
 * What apps do with queues, without BullMQ: enqueue a page, (re)trigger a batch's finalize, queue
 * its webhook delivery, remove or hold back a batch's waiting jobs, read a job's state, count jobs,
 * find failed jobs of a batch, pause the image queues. Methods that
 * look a batch's jobs up take its route (the queue its inputs went to).
 */
export interface JobQueueOps {
  /** Indexes the jobs in their batch's queued-jobs index (share.batchId), then one addBulk, each job with its fair-share priority (ids still present are ignored). */
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
  imageJob(jobId: string, route: JobRoute): Promise<ImageJobInfo | undefined>;
  /** Every queue: images, vlm, each model's queue ever used, finalize, webhooks. */
  counts(): Promise<QueueCounts[]>;
  failedImageJobs(batchId: string, route: JobRoute): Promise<FailedImageJob[]>;
}

export class JobQueues implements JobQueueOps {
  constructor(
    readonly queues: Queues,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly fairShare: FairShare,
    private readonly options: { failFast?: boolean } = {},
  ) {}

  private run<T>(work: () => Promise<T>): Promise<T> {
    return runFailFast(this.redis, this.options.failFast, work);
  }

  /**
   * Indexes the jobs, then one addBulk, each job with its round as BullMQ priority: ids are
   * derived from batch + key, so a page added twice enqueues nothing new (its rounds are spent all
   * the same: the batch's share moves on a little). Indexed first (BullMQ's addBulk is its own
   * MULTI), so a job is never waiting without being in its batch's index; a model's queue is
   * recorded before its first jobs go in, so counts and a fleet-wide pause never miss it.
   */
  async enqueueImages(route: JobRoute, share: ShareOf, jobs: ImageJobSpec[]): Promise<void> {
    if (jobs.length === 0) return;
    const queue = this.queues.forRoute(route);
    const model = routedModel(route);
    const entries = jobs.flatMap((job) => [job.jobId, JSON.stringify(job.data)]);
    await this.run(async () => {
      if (model !== undefined && (await this.redis.sadd(modelQueuesKey(this.queues.prefix), model)) === 1 && (await this.queues.vlm.isPaused())) await queue.pause();
      await this.redis.hset(queuedJobsKey(this.prefix, share.batchId), ...entries);
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
    const queue = this.queues.forRoute(route);
    const pipeline = this.redis.pipeline();
    for (const id of jobIds) pipeline.exists(queue.toKey(id));
    const exists = (await this.run(() => pipeline.exec())) ?? [];
    const present = jobIds.filter((_, index) => exists[index]?.[1] === 1);
    const removed = await Promise.all(present.map((id) => this.run(() => queue.remove(id)).catch(() => 0)));
    return removed.reduce<number>((sum, code) => sum + (code === 1 ? 1 : 0), 0);
  }

  /** A model queue first used while the fleet is paused starts paused (see enqueueImages). */
  async setImageQueuesPaused(paused: boolean): Promise<void> {
    const queues = await this.everyImageQueue();
    await this.run(() => Promise.all(queues.map((queue: Queue) => (paused ? queue.pause() : queue.resume()))));
  }

  async imageQueues(): Promise<ImageQueueState[]> {
    const queues = await this.everyImageQueue();
    return this.run(() => Promise.all(queues.map(async (queue) => ({ queue: queue.name, paused: await queue.isPaused() }))));
  }

  /** images, vlm and the queue of every model ever routed to (the model-queues set). */
  private async everyImageQueue(): Promise<Queue<ImageJobData>[]> {
    const models = await this.run(() => this.redis.smembers(modelQueuesKey(this.queues.prefix)));
    return [this.queues.images, this.queues.vlm, ...models.sort().map((model) => this.queues.forRoute({ kind: 'model', model }))];
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
