import { Queue, type DefaultJobOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { FinalizeJobData, ImageJobData } from '@imagefleet/core';

export const IMAGE_QUEUE = 'images';
export const FINALIZE_QUEUE = 'finalize';
/** Model tasks wait here, so workers without a vision engine never take them. */
export const VLM_QUEUE = 'vlm';

export type TaskKind = 'pixels' | 'model';

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

/** The BullMQ queues. Only packages/jobs touches them; apps go through JobQueues. */
export interface Queues {
  images: Queue<ImageJobData>;
  vlm: Queue<ImageJobData>;
  /** The queue a task of this kind goes to. */
  forKind(kind: TaskKind): Queue<ImageJobData>;
  finalize: Queue<FinalizeJobData>;
  close(): Promise<void>;
}

/**
 * `onError` gets the queues' connection errors (Redis gone, reconnecting); without a listener
 * BullMQ prints each one to stderr.
 */
export function createQueues(connection: Redis, prefix: string, policy: JobPolicy, onError?: (error: Error, queue: string) => void): Queues {
  const images = new Queue<ImageJobData>(IMAGE_QUEUE, { connection, prefix, defaultJobOptions: imageJobOptions(policy) });
  const vlm = new Queue<ImageJobData>(VLM_QUEUE, { connection, prefix, defaultJobOptions: imageJobOptions(policy) });
  const finalize = new Queue<FinalizeJobData>(FINALIZE_QUEUE, { connection, prefix, defaultJobOptions: finalizeJobOptions(policy) });
  if (onError) for (const queue of [images, vlm, finalize]) queue.on('error', (error) => onError(error, queue.name));
  return {
    images,
    vlm,
    finalize,
    forKind: (kind) => (kind === 'model' ? vlm : images),
    async close() {
      await Promise.all([images.close(), vlm.close(), finalize.close()]);
    },
  };
}

/** The finalize job's fixed id: one per batch. */
export const finalizeJobId = (batchId: string): string => `finalize-${batchId}`;
