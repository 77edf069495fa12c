import { failedJobLine, startConsumers, type Consumers, type FailedJob } from '@imagefleet/jobs';
import { resultKeyOf, type ImageJobData } from '@imagefleet/core';
import type { WorkerDeps } from './deps.js';
import { createImageProcessor, type ImageJobReturn } from './process-image.js';
import { createFinalizeProcessor } from './finalize.js';
import { createWebhookProcessor } from './webhook-processor.js';
import { recordResult } from './result-writer.js';
import type { ImageActivity } from './image-activity.js';

/** Tries to record the outcome of a job BullMQ failed for good, before leaving it to the reconciler. */
const RECORD_FAILED_ATTEMPTS = 5;

/**
 * The queue consumers of one worker process: image jobs with WORKER_CONCURRENCY in flight (model
 * jobs too when this worker runs an engine: the shared `vlm` queue and its model's own queue),
 * batch finalization one at a time, and webhook deliveries (WEBHOOK_CONCURRENCY).
 */
export class FleetWorker {
  private readonly consumers: Consumers;

  /**
   * @param modelQueue the model id whose own queue this worker consumes (with an engine only).
   */
  constructor(
    private readonly deps: WorkerDeps,
    activity: ImageActivity,
    readonly modelQueue?: string,
  ) {
    const { config, redis, engine } = deps;
    const processImage = createImageProcessor(deps);
    this.consumers = startConsumers<ImageJobReturn>(
      redis,
      {
        image: (job) => activity.track(() => processImage(job), ({ status }) => status === 'ok' || status === 'failed'),
        finalize: createFinalizeProcessor(deps),
        webhook: createWebhookProcessor(deps),
        imageFailed: (job, error) => this.onImageFailed(job, error),
        error: (error, queue) => deps.logger.error({ err: error, queue }, 'queue worker error'),
      },
      {
        prefix: config.queuePrefix,
        lockDurationMs: config.lockDurationMs,
        stalledIntervalMs: config.stalledIntervalMs,
        maxStalls: config.jobMaxStalls,
        imageConcurrency: config.workerConcurrency,
        // Model jobs: hold more than the engine has slots, so fetch and prepare overlap inference.
        // The shared and the model's own queue each get this much; the slot gate (first come, first
        // served) shares the slots between them: all to one when only it has jobs.
        vlmConcurrency: engine ? Math.max(config.workerConcurrency, engine.plannedSlots * 2) : undefined,
        modelId: engine ? modelQueue : undefined,
        webhookConcurrency: config.webhookConcurrency,
      },
    );
  }

  /** Resolves once the consumers are connected and taking jobs. */
  async waitUntilReady(): Promise<void> {
    await this.consumers.waitUntilReady();
  }

  /**
   * Every job BullMQ fails for good gets an outcome, whatever failed: the processor records its own
   * failures before failing the job (then this finds it recorded and changes nothing), but a job
   * can also fail with nothing recorded (its workers kept dying: `stalled`; recording itself threw
   * on the last attempt). Retried a few times; if the process dies first, the producer's
   * reconciler records it. Never throws.
   */
  private async onImageFailed(job: FailedJob<ImageJobData>, error: Error): Promise<void> {
    const log = this.deps.logger.child({ jobId: job.id, batchId: job.data.batchId });
    const line = failedJobLine(resultKeyOf(job.data), error.message);
    const input = { batchId: job.data.batchId, jobId: job.id, results: job.data.results, token: `failed:${job.id}` };
    for (let attempt = 1; ; attempt++) {
      try {
        const claim = await recordResult(this.deps, input, line, log);
        if (claim.added) {
          this.deps.metrics.jobs.inc({ task: job.data.task, outcome: line.error!.code });
          log.warn({ key: line.key, code: line.error!.code, err: error }, 'job failed');
        }
        return;
      } catch (recordError) {
        if (attempt >= RECORD_FAILED_ATTEMPTS) {
          log.error({ err: recordError, failure: error }, 'could not record a failed job; the reconciler records it');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
      }
    }
  }

  /**
   * Stops taking jobs and waits up to timeoutMs for active ones; after that they are abandoned
   * to the stalled-job check, which hands them to another worker. Nothing is lost either way.
   */
  async close(timeoutMs: number): Promise<{ graceful: boolean }> {
    return this.consumers.close(timeoutMs);
  }
}
