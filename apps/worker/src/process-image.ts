import { ImagefleetError, resultKeyOf, toImagefleetError, type ImageJobData, type Logger, type ResultLine } from '@imagefleet/core';
import { prepareImage, prepareJpeg, preparePage, preparePageJpeg, type PreparedJpeg } from '@imagefleet/imaging';
import { FailJob, isFinalAttempt, PostponeJob, type WorkJob } from '@imagefleet/jobs';
import { getTask, type ModelTask, type ModelTaskResult, type Task } from '@imagefleet/tasks';
import type { EngineSupervisor } from '@imagefleet/engine';
import type { Stage } from '@imagefleet/metrics';
import type { WorkerDeps } from './deps.js';
import { runModelTask } from './model-step.js';
import { BatchOptionsCache } from './batch-options.js';
import { recordResult, storeRecordedResult, type InputRef } from './result-writer.js';
import { storageErrorDecision } from './storage-outage.js';
import { WorkerResultCache, type CacheProbe } from './result-cache-step.js';
import { resumeSplit, splitIfDocument } from './document-split.js';

export interface ImageJobReturn {
  /**
   * duplicate: the input already had an outcome (a stale or repeated attempt); nothing changed.
   * split: a document, now split into page jobs.
   */
  status: 'ok' | 'failed' | 'cancelled' | 'duplicate' | 'split';
}

export function inputOf(job: WorkJob<ImageJobData>): InputRef {
  return { batchId: job.data.batchId, jobId: job.id, results: job.data.results, token: job.token };
}

/**
 * One job: fetch (byte limit) -> prepare (sniff, pixel limit, EXIF rotate, resize) -> run the task
 * -> record the outcome -> write the result. A document is split into page jobs instead
 * (document-split.ts); a page job prepares its page and goes on as an image does, its result
 * keyed `<key>#page=<n>`. A model task whose input the result cache knows (same bytes and page,
 * task version, options and model) records the cached result instead of preparing and running
 * it; a fresh result is added to the cache before it is recorded. Bad input fails at once with a stable code; transient
 * errors are thrown for a retry with backoff and recorded as failed only on the last attempt;
 * storage errors postpone the input (no attempt used) for up to STORAGE_OUTAGE_WINDOW_MS. An
 * attempt whose input already has an outcome (a stale one) changes nothing.
 */
export function createImageProcessor(deps: WorkerDeps) {
  const { config } = deps;
  const batchOptions = new BatchOptionsCache((batchId) => deps.batches.optionsJson(batchId));
  const resultCache = new WorkerResultCache(deps);
  return async (job: WorkJob<ImageJobData>): Promise<ImageJobReturn> => {
    const { batchId, task: taskName, source, page } = job.data;
    const key = resultKeyOf(job.data);
    const log = deps.logger.child({ jobId: job.id, batchId });
    const started = performance.now();
    const input = inputOf(job);
    const before = await deps.batches.beforeRun(batchId, job.id);
    if (before.state === 'cancelled') {
      log.info('job skipped: batch cancelled');
      return { status: 'cancelled' };
    }
    if (before.recorded) {
      // Run again after its outcome was recorded (its worker died after recording): store that, nothing else.
      if (await resumeSplit(deps, job, log)) return { status: 'split' };
      await storeRecordedResult(deps, input, undefined, log);
      log.info({ key }, 'job skipped: its outcome is already recorded');
      return { status: 'duplicate' };
    }
    const timer = stageTimer(deps, taskName);
    if (job.attemptsMade === 0 && job.processedOn) timer.observe('queue_wait', (job.processedOn - job.timestamp) / 1000);
    let line: ResultLine;
    let failure: ImagefleetError | undefined;
    let task: Task | undefined;
    let cache: CacheProbe | undefined;
    try {
      task = getTask(taskName);
      if (!task) throw new ImagefleetError('unknown_task', `Unknown task ${JSON.stringify(taskName)}`);
      // Jobs enqueued before options moved to the batch record still carry them (a rolling upgrade).
      const options = job.data.options ?? (await batchOptions.get(batchId));
      const bytes = await timer.time('fetch', () => deps.stores.open(source.store).get(source.key, { maxBytes: config.maxImageBytes }));
      if (page === undefined && (await splitIfDocument(deps, job, bytes, log))) return { status: 'split' };
      cache = await resultCache.probe({ task, bytes, options, sourceKey: key, page, results: input.results }, log);
      line = cache?.hit ?? (await analyse(deps, task, bytes, options, job, timer, log));
    } catch (thrown) {
      let error = toImagefleetError(thrown);
      if (error.code === 'storage_error') {
        const decision = await storageErrorDecision(deps, job, error, log);
        if (decision instanceof PostponeJob) throw decision;
        error = decision;
      }
      if (!isFinalAttempt(job, error)) {
        log.warn({ key, code: error.code, err: error, attempt: job.attemptsMade + 1 }, 'job attempt failed, will retry');
        throw error;
      }
      failure = error;
      line = { key, status: 'failed', error: { code: error.code, message: error.message, ...error.detail } };
    }
    // Before the outcome is recorded: once a batch has finished, every fresh result of it is in the cache.
    if (cache && !cache.hit && task && line.status === 'ok') await resultCache.save(cache, task, line, batchId, input.results, log);
    const claim = await timer.time('store', () => recordResult(deps, input, line, log));
    if (!claim.mine) {
      log.info({ key }, 'job finished after another attempt recorded its outcome; nothing changed');
      return { status: 'duplicate' };
    }
    if (claim.stored === 'unstorable') {
      deps.metrics.jobs.inc({ task: taskName, outcome: 'result_unstorable' });
      return { status: 'failed' };
    }
    if (failure) {
      deps.metrics.jobs.inc({ task: taskName, outcome: failure.code });
      log.warn({ key, code: failure.code, err: failure }, 'job failed');
      throw new FailJob(`${failure.code}: ${failure.message}`, { cause: failure });
    }
    deps.metrics.jobs.inc({ task: taskName, outcome: 'ok' });
    timer.observe('total', (performance.now() - started) / 1000);
    log.info({ key, cached: line.cached ?? false, ...timer.milliseconds() }, 'job completed');
    return { status: 'ok' };
  };
}

/**
 * Prepare (sniff, pixel limit, EXIF rotate, resize; a document's page rendered) and run the task:
 * the ok line of a fresh result. A model task's image is encoded as JPEG in the pipeline that
 * decoded it; a pixel task gets raw pixels.
 */
async function analyse(deps: WorkerDeps, task: Task, bytes: Buffer, options: Record<string, unknown>, job: WorkJob<ImageJobData>, timer: StageTimer, log: Logger): Promise<ResultLine> {
  const { page } = job.data;
  const limits = { maxPixels: deps.config.maxImagePixels };
  let result: unknown;
  if (task.kind === 'pixels') {
    const image = await timer.time('prepare', () => (page === undefined ? prepareImage(bytes, limits, task.budget) : preparePage(bytes, page, limits, task.budget)));
    result = await timer.time('infer', () => task.run(image, options));
  } else {
    // Before the image is prepared: a worker without an engine has nothing to prepare it for.
    const { engine } = deps;
    if (!engine) throw new ImagefleetError('engine_unavailable', `Task ${task.name} needs a vision engine and this worker runs with ENGINE=none`);
    const image = await timer.time('prepare', () => (page === undefined ? prepareJpeg(bytes, limits, task.budget) : preparePageJpeg(bytes, page, limits, task.budget)));
    const answer = await timer.time('infer', () => runEngineTask(deps, engine, task, image, options, job, log));
    countTokens(deps, task.name, answer);
    result = answer;
  }
  return { key: resultKeyOf(job.data), status: 'ok', result };
}

async function runEngineTask(deps: WorkerDeps, engine: EngineSupervisor, task: ModelTask, image: PreparedJpeg, options: Record<string, unknown>, job: WorkJob<ImageJobData>, log: Logger): Promise<ModelTaskResult> {
  const { engineTimeoutMs, engineMsPerToken } = deps.config;
  // Engine crashes this input was in flight for: kept with the job, so they survive retries.
  const crashes = { previous: job.data.engineCrashes ?? 0, save: (count: number) => job.updateData({ ...job.data, engineCrashes: count }) };
  return runModelTask(engine, task, image, options, { id: job.id, crashes }, { timeoutMs: engineTimeoutMs, msPerToken: engineMsPerToken }, log);
}

function countTokens(deps: WorkerDeps, task: string, result: ModelTaskResult): void {
  deps.metrics.tokens.inc({ task, direction: 'prompt' }, result.tokens.prompt);
  deps.metrics.tokens.inc({ task, direction: 'completion' }, result.tokens.completion);
}

type StageTimer = ReturnType<typeof stageTimer>;

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
