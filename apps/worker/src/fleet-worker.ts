import { Worker, type Job } from 'bullmq';
import { FINALIZE_QUEUE, IMAGE_QUEUE } from '@imagefleet/jobs';
import type { FinalizeJobData, ImageJobData } from '@imagefleet/core';
import type { WorkerDeps } from './deps.js';
import { createImageProcessor, recordResult, type ImageJobReturn } from './process-image.js';
import { createFinalizeProcessor } from './finalize.js';

/**
 * The queue consumers of one worker process: image jobs with WORKER_CONCURRENCY in flight,
 * and batch finalization one at a time.
 */
export class FleetWorker {
  private readonly images: Worker<ImageJobData, ImageJobReturn>;
  private readonly finalize: Worker<FinalizeJobData, void>;

  constructor(private readonly deps: WorkerDeps) {
    const { config, redis } = deps;
    const common = {
      connection: redis,
      prefix: config.queuePrefix,
      lockDuration: config.lockDurationMs,
      stalledInterval: config.stalledIntervalMs,
      maxStalledCount: 1,
    };
    this.images = new Worker(IMAGE_QUEUE, createImageProcessor(deps), { ...common, concurrency: config.workerConcurrency });
    this.finalize = new Worker(FINALIZE_QUEUE, createFinalizeProcessor(deps), { ...common, concurrency: 1 });
    this.images.on('failed', (job, error) => void this.onImageFailed(job, error));
    for (const worker of [this.images, this.finalize]) {
      worker.on('error', (error) => deps.logger.error({ err: error.message, queue: worker.name }, 'queue worker error'));
    }
  }

  /** Resolves once both consumers are connected and taking jobs. */
  async waitUntilReady(): Promise<void> {
    await Promise.all([this.images.waitUntilReady(), this.finalize.waitUntilReady()]);
  }

  /**
   * A job that exceeded the stalled limit (its workers kept dying) never reaches our processor's
   * catch block; record it here so the batch still completes. Idempotent with the processor.
   */
  private async onImageFailed(job: Job<ImageJobData> | undefined, error: Error): Promise<void> {
    if (!job || !/stalled/i.test(error.message)) return;
    try {
      await recordResult(this.deps, job, {
        key: job.data.source.key,
        status: 'failed',
        error: { code: 'stalled', message: error.message },
      });
    } catch (recordError) {
      this.deps.logger.error({ jobId: job.id, batchId: job.data.batchId, err: (recordError as Error).message }, 'could not record stalled job');
    }
  }

  /**
   * Stops taking jobs and waits up to timeoutMs for active ones; after that they are abandoned
   * to the stalled-job check, which hands them to another worker. Nothing is lost either way.
   */
  async close(timeoutMs: number): Promise<{ graceful: boolean }> {
    const closing = Promise.all([this.images.close(), this.finalize.close()]).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const graceful = await Promise.race([closing, deadline]);
    clearTimeout(timer);
    if (!graceful) await Promise.all([this.images.close(true), this.finalize.close(true)]);
    return { graceful };
  }
}
