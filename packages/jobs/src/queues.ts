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

export interface Queues {
  images: Queue<ImageJobData>;
  vlm: Queue<ImageJobData>;
  /** The queue a task of this kind goes to. */
  forKind(kind: TaskKind): Queue<ImageJobData>;
  finalize: Queue<FinalizeJobData>;
  close(): Promise<void>;
}

export function createQueues(connection: Redis, prefix: string, policy: JobPolicy): Queues {
  const images = new Queue<ImageJobData>(IMAGE_QUEUE, { connection, prefix, defaultJobOptions: imageJobOptions(policy) });
  const vlm = new Queue<ImageJobData>(VLM_QUEUE, { connection, prefix, defaultJobOptions: imageJobOptions(policy) });
  const finalize = new Queue<FinalizeJobData>(FINALIZE_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: 10,
      backoff: { type: 'exponential', delay: policy.backoffMs },
      removeOnComplete: { age: 7 * 24 * 3600 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
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

/** Idempotent: the finalize job id is the batch id, so racing workers enqueue it once. */
export async function enqueueFinalize(queues: Queues, batchId: string): Promise<void> {
  await queues.finalize.add('finalize', { batchId }, { jobId: `finalize-${batchId}` });
}
