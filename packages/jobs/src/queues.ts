import { Queue, type DefaultJobOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { FinalizeJobData, ImageJobData, WebhookJobData } from '@imagefleet/core';
import type { JobRoute } from './job-queues.js';

export const IMAGE_QUEUE = 'images';
export const FINALIZE_QUEUE = 'finalize';
/** Model tasks wait here, so workers without a vision engine never take them. */
export const VLM_QUEUE = 'vlm';
/** Batch webhook deliveries: apart from finalize, so a slow receiver never holds up another batch. */
export const WEBHOOK_QUEUE = 'webhooks';

export type TaskKind = 'pixels' | 'model';

/**
 * The queue of one model's jobs: `vlm-<model id>`. BullMQ queue names cannot hold ':', so a ':' of
 * the id is written '+' (not a model id character: two ids never share a queue).
 */
export function modelQueueName(modelId: string): string {
  return `${VLM_QUEUE}-${modelId.replaceAll(':', '+')}`;
}

/** The model whose own queue a route goes to: model tasks naming one; undefined for the shared queues. */
export function routedModel(route: JobRoute): string | undefined {
  return route.kind === 'model' ? route.model : undefined;
}

/** The model ids whose queue was ever used (a set): counts and metrics cover their queues. */
export function modelQueuesKey(prefix: string): string {
  return `${prefix}:model-queues`;
}

export interface JobPolicy {
  attempts: number;
  backoffMs: number;
}

/** Results live in storage; Redis keeps finished jobs only long enough to dedupe re-posts and debug. */
export function imageJobOptions(policy: JobPolicy): DefaultJobOptions {
  return {
    attempts: policy.attempts,
    backoff: { type: 'exponential', delay: policy.backoffMs },
    removeOnComplete: { age: 3600, count: 50_000 },
    removeOnFail: { age: 24 * 3600, count: 50_000 },
  };
}

/**
 * Finalize: a few attempts with backoff; a completed one is removed at once (so a later trigger
 * can always add it again), a failed one is kept for a week and retried by the reconciler.
 */
export const FINALIZE_ATTEMPTS = 5;

export function finalizeJobOptions(policy: JobPolicy): DefaultJobOptions {
  return {
    attempts: FINALIZE_ATTEMPTS,
    backoff: { type: 'exponential', delay: policy.backoffMs },
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/**
 * Webhook delivery: `attempts` deliveries with exponential backoff. A completed or failed one is
 * kept a day, so that a finalize re-run within that time cannot deliver a second time.
 */
export function webhookJobOptions(policy: { attempts: number; backoffMs: number }): DefaultJobOptions {
  return {
    attempts: policy.attempts,
    backoff: { type: 'exponential', delay: policy.backoffMs },
    removeOnComplete: { age: 24 * 3600 },
    removeOnFail: { age: 24 * 3600 },
  };
}

/** The BullMQ queues. Only packages/jobs touches them; apps go through JobQueues. */
export interface Queues {
  /** The Redis key prefix (QUEUE_PREFIX). */
  prefix: string;
  images: Queue<ImageJobData>;
  vlm: Queue<ImageJobData>;
  /** The queue an input goes to: a model task naming a model goes to that model's queue (created on first use, then cached). */
  forRoute(route: JobRoute): Queue<ImageJobData>;
  finalize: Queue<FinalizeJobData>;
  webhooks: Queue<WebhookJobData>;
  close(): Promise<void>;
}

/**
 * `webhookAttempts` (default: `attempts`): deliveries tried per batch webhook. `onError` gets the
 * queues' connection errors (Redis gone, reconnecting); without a listener BullMQ prints each one
 * to stderr.
 */
export function createQueues(connection: Redis, prefix: string, policy: JobPolicy & { webhookAttempts?: number }, onError?: (error: Error, queue: string) => void): Queues {
  const images = new Queue<ImageJobData>(IMAGE_QUEUE, { connection, prefix, defaultJobOptions: imageJobOptions(policy) });
  const vlm = new Queue<ImageJobData>(VLM_QUEUE, { connection, prefix, defaultJobOptions: imageJobOptions(policy) });
  const finalize = new Queue<FinalizeJobData>(FINALIZE_QUEUE, { connection, prefix, defaultJobOptions: finalizeJobOptions(policy) });
  const webhooks = new Queue<WebhookJobData>(WEBHOOK_QUEUE, { connection, prefix, defaultJobOptions: webhookJobOptions({ attempts: policy.webhookAttempts ?? policy.attempts, backoffMs: policy.backoffMs }) });
  const listen = (queue: Queue) => {
    if (onError) queue.on('error', (error) => onError(error, queue.name));
  };
  for (const queue of [images, vlm, finalize, webhooks]) listen(queue);
  const modelQueues = new Map<string, Queue<ImageJobData>>();
  return {
    prefix,
    images,
    vlm,
    finalize,
    webhooks,
    forRoute(route) {
      const model = routedModel(route);
      if (model === undefined) return route.kind === 'model' ? vlm : images;
      let queue = modelQueues.get(model);
      if (!queue) {
        queue = new Queue<ImageJobData>(modelQueueName(model), { connection, prefix, defaultJobOptions: imageJobOptions(policy) });
        listen(queue);
        modelQueues.set(model, queue);
      }
      return queue;
    },
    async close() {
      await Promise.all([images, vlm, finalize, webhooks, ...modelQueues.values()].map((queue) => queue.close()));
    },
  };
}

/** The finalize job's fixed id: one per batch. */
export const finalizeJobId = (batchId: string): string => `finalize-${batchId}`;

/** The webhook job's fixed id: one delivery per batch. */
export const webhookJobId = (batchId: string): string => `webhook-${batchId}`;

/**
 * Every BullMQ queue, for the queue administration UI (bull-board at /admin/queues); nothing else
 * needs them: images, vlm, the queue of every model ever routed to (the model-queues set, read
 * now), finalize, webhooks.
 */
export async function adminQueues(queues: Queues, redis: Redis): Promise<Queue[]> {
  const models = (await redis.smembers(modelQueuesKey(queues.prefix))).sort();
  return [queues.images, queues.vlm, ...models.map((model) => queues.forRoute({ kind: 'model', model })), queues.finalize, queues.webhooks];
}
