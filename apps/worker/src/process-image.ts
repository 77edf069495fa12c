import { UnrecoverableError, type Job } from 'bullmq';
import { ImagefleetError, toImagefleetError, type ImageJobData, type ResultLine } from '@imagefleet/core';
import { prepareImage } from '@imagefleet/imaging';
import { enqueueFinalize } from '@imagefleet/jobs';
import { resultLayout } from '@imagefleet/storage';
import { getTask, type ModelTaskResult, type Task } from '@imagefleet/tasks';
import type { Logger } from '@imagefleet/core';
import type { PreparedImage } from '@imagefleet/imaging';
import type { WorkerDeps } from './deps.js';
import { runModelTask } from './model-step.js';
import type { Stage } from '@imagefleet/metrics';

export interface ImageJobReturn {
  status: 'ok' | 'failed' | 'cancelled';
}

/** Writes the input's result object and records its outcome once; the last input enqueues finalize. */
export async function recordResult(deps: WorkerDeps, job: Job<ImageJobData>, line: ResultLine): Promise<void> {
  const { batchId, results } = job.data;
  await deps.stores.open(results).put(resultLayout.resultKey(batchId, line.key), JSON.stringify(line), {
    contentType: 'application/json',
  });
  const { complete } = await deps.batches.recordOutcome(batchId, job.id!, line.key, line.status);
  if (complete) await enqueueFinalize(deps.queues, batchId);
}

function isFinalAttempt(job: Job, error: ImagefleetError): boolean {
  return error.permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/**
 * One job: fetch (byte limit) -> prepare (sniff, pixel limit, EXIF rotate, resize) -> run the task
 * -> write the result -> count it. Bad input fails at once with a stable code; transient errors
 * are thrown for BullMQ to retry with backoff, and recorded as failed only on the last attempt.
 */
export function createImageProcessor(deps: WorkerDeps) {
  const { config } = deps;
  return async (job: Job<ImageJobData>): Promise<ImageJobReturn> => {
    const { batchId, task: taskName, source } = job.data;
    const log = deps.logger.child({ jobId: job.id, batchId });
    const started = performance.now();
    if ((await deps.batches.state(batchId)) === 'cancelled') {
      log.info('job skipped: batch cancelled');
      return { status: 'cancelled' };
    }
    const timer = stageTimer(deps, taskName);
    if (job.attemptsMade === 0 && job.processedOn) timer.observe('queue_wait', (job.processedOn - job.timestamp) / 1000);
    try {
      const task = getTask(taskName);
      if (!task) throw new ImagefleetError('unknown_task', `Unknown task ${JSON.stringify(taskName)}`);
      const bytes = await timer.time('fetch', () => deps.stores.open(source.store).get(source.key, { maxBytes: config.maxImageBytes }));
      const image = await timer.time('prepare', () => prepareImage(bytes, { maxPixels: config.maxImagePixels }, task.budget));
      const result = await timer.time('infer', () => runTask(deps, task, image, job, log));
      if (task.kind === 'model') countTokens(deps, taskName, result as ModelTaskResult);
      await timer.time('store', () => recordResult(deps, job, { key: source.key, status: 'ok', result }));
      deps.metrics.jobs.inc({ task: taskName, outcome: 'ok' });
      timer.observe('total', (performance.now() - started) / 1000);
      log.info({ key: source.key, ...timer.milliseconds() }, 'job completed');
      return { status: 'ok' };
    } catch (thrown) {
      const error = toImagefleetError(thrown);
      if (!isFinalAttempt(job, error)) {
        log.warn({ key: source.key, code: error.code, err: error.message, attempt: job.attemptsMade + 1 }, 'job attempt failed, will retry');
        throw error;
      }
      log.warn({ key: source.key, code: error.code, err: error.message }, 'job failed');
      deps.metrics.jobs.inc({ task: taskName, outcome: error.code });
      await recordResult(deps, job, { key: source.key, status: 'failed', error: { code: error.code, message: error.message, ...error.detail } });
      throw new UnrecoverableError(`${error.code}: ${error.message}`);
    }
  };
}

async function runTask(deps: WorkerDeps, task: Task, image: PreparedImage, job: Job<ImageJobData>, log: Logger): Promise<unknown> {
  const options = job.data.options ?? {};
  if (task.kind === 'pixels') return task.run(image, options);
  if (!deps.engine) throw new ImagefleetError('engine_unavailable', `Task ${task.name} needs a vision engine and this worker runs with ENGINE=none`);
  const { engineTimeoutMs, engineMsPerToken } = deps.config;
  // Engine crashes this input was in flight for: kept with the job, so they survive retries.
  const crashes = { previous: job.data.engineCrashes ?? 0, save: (count: number) => job.updateData({ ...job.data, engineCrashes: count }) };
  return runModelTask(deps.engine, task, image, options, { id: job.id!, crashes }, { timeoutMs: engineTimeoutMs, msPerToken: engineMsPerToken }, log);
}

function countTokens(deps: WorkerDeps, task: string, result: ModelTaskResult): void {
  deps.metrics.tokens.inc({ task, direction: 'prompt' }, result.tokens.prompt);
  deps.metrics.tokens.inc({ task, direction: 'completion' }, result.tokens.completion);
}

/** Times the stages of one job into the stage histogram and keeps them for the log line. */
function stageTimer(deps: WorkerDeps, task: string) {
  const seconds: Partial<Record<Stage, number>> = {};
  const observe = (stage: Stage, value: number) => {
    seconds[stage] = value;
    deps.metrics.stageSeconds.observe({ task, stage }, value);
  };
  return {
    observe,
    async time<T>(stage: Stage, work: () => Promise<T>): Promise<T> {
      const started = performance.now();
      try {
        return await work();
      } finally {
        observe(stage, (performance.now() - started) / 1000);
      }
    },
    milliseconds: () => Object.fromEntries(Object.entries(seconds).map(([stage, value]) => [`${stage}Ms`, Math.round(value * 1000)])),
  };
}
