import type { ImageJobData } from '@imagefleet/core';
import type { FailedImageJob, FinalizeTrigger, ImageJobInfo, ImageJobSpec, JobQueueOps, JobRoute, QueueCounts, ShareOf } from './job-queues.js';
import { modelQueueName, routedModel } from './queues.js';
import type { WorkJob } from './work-job.js';

/**
 * Test doubles for the jobs facade (import from '@imagefleet/jobs/testing'): queues kept in
 * memory, and WorkJobs as plain objects, so processors, finalize and the lister run in tests
 * without BullMQ.
 */
export class MemoryJobQueues implements JobQueueOps {
  /** In enqueue order (no fair-share ordering: that needs BullMQ, see fair-share.ts). */
  readonly enqueued: { route: JobRoute; share: ShareOf; spec: ImageJobSpec }[] = [];
  readonly finalizeTriggers: string[] = [];
  readonly webhookTriggers: string[] = [];
  readonly failed = new Map<string, FailedImageJob>();

  async enqueueImages(route: JobRoute, share: ShareOf, jobs: ImageJobSpec[]): Promise<void> {
    for (const spec of jobs) if (!this.enqueued.some((entry) => entry.spec.jobId === spec.jobId)) this.enqueued.push({ route, share, spec });
  }

  async ensureFinalize(batchId: string): Promise<FinalizeTrigger> {
    this.finalizeTriggers.push(batchId);
    return 'added';
  }

  async enqueueWebhook(batchId: string): Promise<void> {
    if (!this.webhookTriggers.includes(batchId)) this.webhookTriggers.push(batchId);
  }

  async removeBatchJobs(batchId: string, route: JobRoute): Promise<number> {
    const before = this.enqueued.length;
    this.enqueued.splice(0, this.enqueued.length, ...this.enqueued.filter((entry) => entry.spec.data.batchId !== batchId || !sameQueue(entry.route, route)));
    return before - this.enqueued.length;
  }

  async imageJob(jobId: string, route: JobRoute): Promise<ImageJobInfo | undefined> {
    const entry = this.enqueued.find((candidate) => candidate.spec.jobId === jobId && sameQueue(candidate.route, route));
    return entry && { state: 'waiting', data: entry.spec.data, attemptsStarted: 0, attemptsMade: 0, failedReason: undefined };
  }

  /** One 'memory' entry for the shared queues, one per model queue used. */
  async counts(): Promise<QueueCounts[]> {
    const zero = { wait: 0, active: 0, delayed: 0, prioritized: 0, completed: 0, failed: 0 };
    const models = [...new Set(this.enqueued.flatMap((entry) => routedModel(entry.route) ?? []))].sort();
    const waiting = (model: string | undefined) => this.enqueued.filter((entry) => routedModel(entry.route) === model).length;
    return [
      { queue: 'memory', counts: { ...zero, wait: waiting(undefined), failed: this.failed.size } },
      ...models.map((model) => ({ queue: modelQueueName(model), model, counts: { ...zero, wait: waiting(model) } })),
    ];
  }

  async failedImageJobs(batchId: string): Promise<FailedImageJob[]> {
    return [...this.failed.values()].filter((job) => job.data.batchId === batchId);
  }
}

function sameQueue(a: JobRoute, b: JobRoute): boolean {
  return a.kind === b.kind && routedModel(a) === routedModel(b);
}

/** A WorkJob as a plain object; updateData changes `data` in place. */
export function workJob<T = ImageJobData>(id: string, data: T, options: Partial<Pick<WorkJob<T>, 'attemptsMade' | 'attempts' | 'token'>> = {}): WorkJob<T> & { data: T } {
  const job = {
    id,
    data,
    attemptsMade: options.attemptsMade ?? 0,
    attempts: options.attempts ?? 3,
    token: options.token ?? `${id}:token`,
    timestamp: Date.now(),
    processedOn: Date.now(),
    async updateData(next: T) {
      job.data = next;
    },
  };
  return job;
}
