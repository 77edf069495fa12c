import { Worker, type Job } from 'bullmq';
import { FINALIZE_QUEUE, IMAGE_QUEUE, VLM_QUEUE } from '@imagefleet/jobs';
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
  private readonly vlm: Worker<ImageJobData, ImageJobReturn> | undefined;
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
    const processor = createImageProcessor(deps);
    this.images = new Worker(IMAGE_QUEUE, processor, { ...common, concurrency: config.workerConcurrency });
    // Model jobs: hold more than the engine has slots, so fetch and prepare overlap inference.
    this.vlm = deps.engine
      ? new Worker(VLM_QUEUE, processor, { ...common, concurrency: Math.max(config.workerConcurrency, deps.engine.plannedSlots * 2) })
      : undefined;
    this.finalize = new Worker(FINALIZE_QUEUE, createFinalizeProcessor(deps), { ...common, concurrency: 1 });
    for (const worker of this.imageWorkers()) worker.on('failed', (job, error) => void this.onImageFailed(job, error));
    for (const worker of [...this.imageWorkers(), this.finalize]) {
      worker.on('error', (error) => deps.logger.error({ err: error.message, queue: worker.name }, 'queue worker error'));
    }
  }

  /** Resolves once both consumers are connected and taking jobs. */
  async waitUntilReady(): Promise<void> {
    await Promise.all([...this.imageWorkers(), this.finalize].map((worker) => worker.waitUntilReady()));
  }

  private imageWorkers(): Worker<ImageJobData, ImageJobReturn>[] {
    return this.vlm ? [this.images, this.vlm] : [this.images];
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
    const workers = [...this.imageWorkers(), this.finalize];
    const closing = Promise.all(workers.map((worker) => worker.close())).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const graceful = await Promise.race([closing, deadline]);
    clearTimeout(timer);
    if (!graceful) await Promise.all(workers.map((worker) => worker.close(true)));
    return { graceful };
  }
}
