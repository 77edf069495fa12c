import type { ImageJobData } from '@imagefleet/core';
import type { FailedImageJob, FinalizeTrigger, ImageJobInfo, ImageJobSpec, JobQueueOps, QueueCountState } from './job-queues.js';
import type { TaskKind } from './queues.js';
import type { WorkJob } from './work-job.js';

/**
 * Test doubles for the jobs facade (import from '@imagefleet/jobs/testing'): queues kept in
 * memory, and WorkJobs as plain objects, so processors, finalize and the lister run in tests
 * without BullMQ.
 */
export class MemoryJobQueues implements JobQueueOps {
  readonly enqueued: { kind: TaskKind; spec: ImageJobSpec }[] = [];
  readonly finalizeTriggers: string[] = [];
  readonly webhookTriggers: string[] = [];
  readonly failed = new Map<string, FailedImageJob>();

  async enqueueImages(kind: TaskKind, jobs: ImageJobSpec[]): Promise<void> {
    for (const spec of jobs) if (!this.enqueued.some((entry) => entry.spec.jobId === spec.jobId)) this.enqueued.push({ kind, spec });
  }

  async enqueuePages(kind: TaskKind, pages: ImageJobSpec[]): Promise<void> {
    await this.enqueueImages(kind, pages);
  }

  async ensureFinalize(batchId: string): Promise<FinalizeTrigger> {
    this.finalizeTriggers.push(batchId);
    return 'added';
  }

  async enqueueWebhook(batchId: string): Promise<void> {
    if (!this.webhookTriggers.includes(batchId)) this.webhookTriggers.push(batchId);
  }

  async removeBatchJobs(batchId: string): Promise<number> {
    const before = this.enqueued.length;
    this.enqueued.splice(0, this.enqueued.length, ...this.enqueued.filter((entry) => entry.spec.data.batchId !== batchId));
    return before - this.enqueued.length;
  }

  async imageJob(jobId: string): Promise<ImageJobInfo | undefined> {
    const entry = this.enqueued.find((candidate) => candidate.spec.jobId === jobId);
    return entry && { state: 'waiting', data: entry.spec.data, attemptsStarted: 0, attemptsMade: 0, failedReason: undefined };
  }

  async counts(): Promise<{ queue: string; counts: Record<QueueCountState, number> }[]> {
    const wait = this.enqueued.length;
    return [{ queue: 'memory', counts: { wait, active: 0, delayed: 0, prioritized: 0, completed: 0, failed: this.failed.size } }];
  }

  async failedImageJobs(batchId: string): Promise<FailedImageJob[]> {
    return [...this.failed.values()].filter((job) => job.data.batchId === batchId);
  }
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
