import { Counter, Histogram, type Registry } from 'prom-client';

/** Seconds: VLM jobs take from tens of milliseconds (inspect) to minutes (long invoices on a CPU). */
export const STAGE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export const STAGES = ['queue_wait', 'fetch', 'prepare', 'infer', 'store', 'total'] as const;
export type Stage = (typeof STAGES)[number];

/** What a worker records per job. Labels are bounded: task names, stage names, error codes. */
export interface JobMetrics {
  stageSeconds: Histogram<'task' | 'stage'>;
  jobs: Counter<'task' | 'outcome'>;
  tokens: Counter<'task' | 'direction'>;
  /** The result cache of model tasks (RESULT_CACHE): lookups that hit or missed, entries not written. */
  resultCache: { hits: Counter<'task'>; misses: Counter<'task'>; writeFailures: Counter<'task'> };
}

function taskCounter(registry: Registry, name: string, help: string): Counter<'task'> {
  return new Counter({ name, help, labelNames: ['task'], registers: [registry] });
}

export function registerJobMetrics(registry: Registry): JobMetrics {
  return {
    stageSeconds: new Histogram({
      name: 'imagefleet_job_stage_seconds',
      help: 'Time per job stage: queue_wait (enqueued to started), fetch, prepare, infer (task or model), store, total',
      labelNames: ['task', 'stage'],
      buckets: STAGE_BUCKETS,
      registers: [registry],
    }),
    jobs: new Counter({
      name: 'imagefleet_jobs_total',
      help: 'Finished inputs by task and outcome (ok, or the error code of a final failure)',
      labelNames: ['task', 'outcome'],
      registers: [registry],
    }),
    tokens: new Counter({
      name: 'imagefleet_tokens_total',
      help: 'Model tokens by task and direction (prompt = in, including image tokens; completion = out)',
      labelNames: ['task', 'direction'],
      registers: [registry],
    }),
    resultCache: {
      hits: taskCounter(registry, 'imagefleet_result_cache_hits_total', 'Model-task inputs answered from the result cache (no engine call)'),
      misses: taskCounter(registry, 'imagefleet_result_cache_misses_total', 'Model-task inputs looked up in the result cache and not found (or expired, or the lookup failed): the engine ran'),
      writeFailures: taskCounter(registry, 'imagefleet_result_cache_write_failures_total', 'Result cache entries that could not be written (the job itself succeeded)'),
    },
  };
}
