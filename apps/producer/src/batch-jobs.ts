import { batchRoute, type BatchRecord, type JobRoute } from '@imagefleet/jobs';
import { getTask } from '@imagefleet/tasks';

/** The queue a batch's inputs go to: its task's kind and, for a model task, the model it named. */
export function routeOf(batch: Pick<BatchRecord, 'task' | 'model'>): JobRoute {
  return batchRoute(batch, getTask(batch.task)?.kind ?? 'pixels');
}
