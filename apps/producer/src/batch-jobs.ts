import { deriveJobId, type ImageJobData } from '@imagefleet/core';
import type { BatchRecord, ImageJobSpec, JobRoute } from '@imagefleet/jobs';
import { getTask } from '@imagefleet/tasks';

/** The queue a batch's inputs go to. */
export function routeOf(batch: Pick<BatchRecord, 'task'>): JobRoute {
  return { kind: getTask(batch.task)?.kind ?? 'pixels' };
}

/** The job of one input: options stay with the batch record (stored once); a job names its batch and its input. */
export function imageJobSpec(batch: Pick<BatchRecord, 'id' | 'task' | 'sourceStore' | 'resultsUrl'>, key: string): ImageJobSpec {
  return {
    jobId: deriveJobId(batch.id, key),
    name: batch.task,
    data: { batchId: batch.id, task: batch.task, source: { store: batch.sourceStore, key }, results: batch.resultsUrl } satisfies ImageJobData,
  };
}
