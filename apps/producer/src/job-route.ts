import { isModelId } from '@imagefleet/core';
import { servedModelIds, type BatchRecord, type JobRoute, type ServedModels, type WorkerHeartbeats } from '@imagefleet/jobs';
import { getTask } from '@imagefleet/tasks';

/** The queue a batch's inputs go to: its task's kind and, for a model task, the model it named. */
export function routeOf(batch: Pick<BatchRecord, 'task' | 'model'>): JobRoute {
  const kind = getTask(batch.task)?.kind ?? 'pixels';
  return kind === 'model' && batch.model !== undefined ? { kind, model: batch.model } : { kind };
}

/** What is wrong with a request's `model` for this task (a message naming the field), or undefined. */
export function modelProblem(model: unknown, taskName: string): string | undefined {
  if (model === undefined) return undefined;
  if (typeof model !== 'string' || !isModelId(model)) return 'model must be a model id: 1-100 letters, digits, . _ : - (as MODEL_ID and GET /v1/models name it)';
  if (getTask(taskName)?.kind !== 'model') return `model applies to model tasks only; ${taskName} is a pixel task that no model runs`;
  return undefined;
}

/** The models live workers serve, read only when one of these batches names a model (else undefined: no worker wait to show). */
export async function servedModelsFor(batches: readonly Pick<BatchRecord, 'model'>[], workers: WorkerHeartbeats): Promise<ServedModels> {
  if (!batches.some((batch) => batch.model !== undefined)) return undefined;
  return servedModelIds(await workers.live());
}
