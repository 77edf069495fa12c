import { deriveJobId, type ImageJobData } from '@imagefleet/core';
import type { BatchRecord, ImageJobSpec, JobRoute, ShareOf } from '@imagefleet/jobs';
import { getTask } from '@imagefleet/tasks';

/** The queue a batch's inputs go to: its task's kind and, for a model task, the model it named. */
export function routeOf(batch: Pick<BatchRecord, 'task' | 'model'>): JobRoute {
  const kind = getTask(batch.task)?.kind ?? 'pixels';
  return kind === 'model' && batch.model !== undefined ? { kind, model: batch.model } : { kind };
}

/** Its fair share: uploads (one-input batches) share the queue's interactive lane; a batch is served by its weight. */
export function shareOf(batch: Pick<BatchRecord, 'id' | 'source' | 'priority'>): ShareOf {
  return 'upload' in batch.source ? { batchId: batch.id, lane: 'interactive' } : { batchId: batch.id, weight: batch.priority };
}

/** The job of one input: options stay with the batch record (stored once); a job names its batch and its input. */
export function imageJobSpec(batch: Pick<BatchRecord, 'id' | 'task' | 'sourceStore' | 'resultsUrl'>, key: string): ImageJobSpec {
  return {
    jobId: deriveJobId(batch.id, key),
    name: batch.task,
    data: { batchId: batch.id, task: batch.task, source: { store: batch.sourceStore, key }, results: batch.resultsUrl } satisfies ImageJobData,
  };
}
