import { sha256Hex, type Logger, type ResultLine } from '@imagefleet/core';
import { ResultCache, resultCacheKey } from '@imagefleet/storage';
import type { Task } from '@imagefleet/tasks';
import type { WorkerDeps } from './deps.js';

/** One input's place in the result cache: its key, and the line to record when it was a hit. */
export interface CacheProbe {
  key: string;
  modelId: string;
  hit?: ResultLine;
}

interface ProbeInput {
  task: Task;
  bytes: Buffer;
  options: Record<string, unknown>;
  /** The input's result key (`<key>#page=<n>` for a document's page). */
  sourceKey: string;
  /** A document's page: part of the cache key, since the bytes are the whole document's. */
  page: number | undefined;
  /** The batch's results store: the cache lives beside its results. */
  results: string;
}

/**
 * The worker's side of the result cache (RESULT_CACHE), for model tasks only: `inspect` costs
 * less than a lookup. Neither a failed lookup (a miss) nor a failed write (logged and counted)
 * ever fails a job.
 */
export class WorkerResultCache {
  private readonly cache: ResultCache;

  constructor(private readonly deps: WorkerDeps) {
    this.cache = new ResultCache(deps.config.resultCacheTtlDays);
  }

  /** undefined when the cache does not apply: off, a pixel task, or a worker without a model id. */
  async probe(input: ProbeInput, log: Logger): Promise<CacheProbe | undefined> {
    const { deps } = this;
    const { modelId } = deps;
    if (!deps.config.resultCache || input.task.kind !== 'model' || modelId === undefined) return undefined;
    const key = resultCacheKey({ sourceSha256: sha256Hex(input.bytes), task: input.task.name, taskVersion: input.task.version, options: input.options, modelId, page: input.page });
    let entry;
    try {
      entry = await this.cache.lookup(deps.stores.open(input.results), key);
    } catch (error) {
      log.warn({ err: error, cacheKey: key }, 'result cache lookup failed; running the model');
    }
    if (!entry) {
      deps.metrics.resultCache.misses.inc({ task: input.task.name });
      return { key, modelId };
    }
    deps.metrics.resultCache.hits.inc({ task: input.task.name });
    return { key, modelId, hit: { key: input.sourceKey, status: 'ok', result: entry.result, cached: true, cachedFrom: { batchId: entry.batchId } } };
  }

  /** Keeps a fresh result for later batches. */
  async save(probe: CacheProbe, task: Task, line: ResultLine, batchId: string, results: string, log: Logger): Promise<void> {
    const { deps } = this;
    try {
      await this.cache.save(deps.stores.open(results), probe.key, { task: task.name, taskVersion: task.version, modelId: probe.modelId }, { batchId, sourceKey: line.key, result: line.result });
    } catch (error) {
      deps.metrics.resultCache.writeFailures.inc({ task: task.name });
      log.warn({ err: error, cacheKey: probe.key }, 'result cache entry not written; the job is not affected');
    }
  }
}
