import { deriveJobId, type ImageJobData } from '@imagefleet/core';
import { batchRoute, type BatchRecord, type ImageJobSpec, type JobRoute } from '@imagefleet/jobs';
import { getTask } from '@imagefleet/tasks';

/** The queue a batch's inputs go to: its task's kind and, for a model task, the model it named. */
export function routeOf(batch: Pick<BatchRecord, 'task' | 'model'>): JobRoute {
  return batchRoute(batch, getTask(batch.task)?.kind ?? 'pixels');
}

export { batchShare as shareOf } from '@imagefleet/jobs';

/** The job of one input: options stay with the batch record (stored once); a job names its batch and its input. */
export function imageJobSpec(batch: Pick<BatchRecord, 'id' | 'task' | 'sourceStore' | 'resultsUrl'>, key: string): ImageJobSpec {
  return {
    jobId: deriveJobId(batch.id, key),
    name: batch.task,
    data: { batchId: batch.id, task: batch.task, source: { store: batch.sourceStore, key }, results: batch.resultsUrl } satisfies ImageJobData,
  };
}
