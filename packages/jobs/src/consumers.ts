import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { FinalizeJobData, ImageJobData, WebhookJobData } from '@imagefleet/core';
import { FINALIZE_QUEUE, IMAGE_QUEUE, VLM_QUEUE, WEBHOOK_QUEUE, modelQueueName } from './queues.js';
import { FailJob, PostponeJob, type FailedJob, type WorkJob } from './work-job.js';

export interface ConsumerOptions {
  prefix: string;
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** Times a job may lose its worker (lock expired) and run again before it fails as stalled. */
  maxStalls: number;
  imageConcurrency: number;
  /** Consume the model queue too, with this concurrency (workers with a vision engine). */
  vlmConcurrency?: number;
  /**
   * With vlmConcurrency: also consume this model's own queue (jobs of batches naming it), with the
   * same concurrency. The two consumers share the engine's slots through its slot gate.
   */
  modelId?: string;
  /** Webhook deliveries at once (default 1), when there is a webhook handler. */
  webhookConcurrency?: number;
}

export interface ConsumerHandlers<R> {
  image(job: WorkJob<ImageJobData>): Promise<R>;
  finalize(job: WorkJob<FinalizeJobData>): Promise<void>;
  /** Consume the webhooks queue too: deliver one batch's webhook. */
  webhook?(job: WorkJob<WebhookJobData>): Promise<void>;
  /** BullMQ failed an image job for good, whatever the reason (must not throw). */
  imageFailed(job: FailedJob<ImageJobData>, error: Error): Promise<void>;
  error(error: Error, queue: string): void;
}

export interface Consumers {
  /** Resolves once every consumer is connected and taking jobs. */
  waitUntilReady(): Promise<void>;
  /**
   * Stops taking jobs and waits up to timeoutMs for active ones; after that they are abandoned
   * to the stalled-job check, which hands them to another worker.
   */
  close(timeoutMs: number): Promise<{ graceful: boolean }>;
}

/** BullMQ's job as a WorkJob: data read live (updateData changes it). */
export function toWorkJob<T>(job: Job<T>, token: string | undefined): WorkJob<T> {
  return {
    id: job.id!,
    get data() {
      return job.data;
    },
    attemptsMade: job.attemptsMade,
    attempts: job.opts.attempts ?? 1,
    token: token ?? `${job.id}:${job.attemptsStarted}`,
    timestamp: job.timestamp,
    processedOn: job.processedOn,
    updateData: async (data: T) => {
      await job.updateData(data);
    },
  };
}

/** Runs a handler and turns our control errors into BullMQ's. */
function processorFor<T, R>(handler: (job: WorkJob<T>) => Promise<R>) {
  return async (job: Job<T>, token?: string): Promise<R> => {
    try {
      return await handler(toWorkJob(job, token));
    } catch (error) {
      if (error instanceof PostponeJob) {
        // Back to delayed without counting an attempt; DelayedError tells BullMQ it was moved.
        await job.moveToDelayed(Date.now() + error.delayMs, token);
        throw new DelayedError();
      }
      if (error instanceof FailJob) throw new UnrecoverableError(error.message);
      throw error;
    }
  };
}

/** The queue consumers of one worker process: image jobs (and model jobs: the shared queue and its model's own), finalize one at a time, webhook deliveries. */
export function startConsumers<R>(connection: Redis, handlers: ConsumerHandlers<R>, options: ConsumerOptions): Consumers {
  const common = {
    connection,
    prefix: options.prefix,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.stalledIntervalMs,
    maxStalledCount: options.maxStalls,
  };
  const imageWorkers = [new Worker<ImageJobData, R>(IMAGE_QUEUE, processorFor(handlers.image), { ...common, concurrency: options.imageConcurrency })];
  if (options.vlmConcurrency !== undefined) {
    const modelQueues = [VLM_QUEUE, ...(options.modelId === undefined ? [] : [modelQueueName(options.modelId)])];
    for (const queue of modelQueues) imageWorkers.push(new Worker<ImageJobData, R>(queue, processorFor(handlers.image), { ...common, concurrency: options.vlmConcurrency }));
  }
  const finalize = new Worker<FinalizeJobData, void>(FINALIZE_QUEUE, processorFor(handlers.finalize), { ...common, concurrency: 1 });
  for (const worker of imageWorkers) {
    worker.on('failed', (job, error) => {
      // finishedOn is set only when BullMQ failed the job for good (not on a retry).
      if (!job?.id || !job.finishedOn) return;
      handlers.imageFailed({ id: job.id, data: job.data, attemptsMade: job.attemptsMade }, error).catch((thrown: unknown) => handlers.error(thrown as Error, worker.name));
    });
  }
  const all: Worker[] = [...imageWorkers, finalize];
  if (handlers.webhook) all.push(new Worker<WebhookJobData, void>(WEBHOOK_QUEUE, processorFor(handlers.webhook), { ...common, concurrency: options.webhookConcurrency ?? 1 }));
  for (const worker of all) worker.on('error', (error) => handlers.error(error, worker.name));
  return {
    async waitUntilReady() {
      await Promise.all(all.map((worker) => worker.waitUntilReady()));
    },
    async close(timeoutMs) {
      const closing = Promise.all(all.map((worker) => worker.close())).then(() => true);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const graceful = await Promise.race([closing, deadline]);
      clearTimeout(timer);
      if (!graceful) await Promise.all(all.map((worker) => worker.close(true)));
      return { graceful };
    },
  };
}
