import type { TestProducer } from './producer.js';
import { waitFor } from './processes.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * What a fleet under test reports about itself on /metrics, so tests can wait for an event or for
 * the fleet to go idle instead of sleeping and counting log lines.
 */

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of one metric in Prometheus text format. */
export function samplesOf(text: string, name: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((label) => [label[1]!, label[2]!]));
    samples.push({ labels, value: Number(match[3]) });
  }
  return samples;
}

/** The producer's /metrics, through app.inject. */
export function producerMetrics(producer: TestProducer): () => Promise<string> {
  return async () => (await producer.app.inject({ method: 'GET', url: '/metrics' })).body;
}

/** /metrics of a producer or worker listening at url. */
export function metricsAt(url: string): () => Promise<string> {
  return async () => (await fetch(`${url.replace(/\/$/, '')}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
}

/** The queues of input jobs (not finalize, not webhooks). */
const INPUT_QUEUES = new Set(['images', 'vlm']);

/** States in which a job still has work ahead of it. */
const PENDING = new Set(['wait', 'waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Waits until one sample of the producer's queue depths (imagefleet_queue_jobs; run the fleet with
 * a short QUEUE_SAMPLE_MS) shows at least `jobs` input jobs finished (completed or failed, in the
 * images and vlm queues) and no job waiting, active or delayed in any queue. The sampler reads the
 * input queues, then finalize, then webhooks; the last input's job enqueues finalize before it
 * completes, and a finalize job enqueues its webhook delivery before it completes. So once this
 * holds, the batches' finalize jobs and webhook deliveries are done, and nothing more happens
 * without a new request: counts taken afterwards are final.
 */
export async function waitForIdleFleet(readMetrics: () => Promise<string>, options: { jobs: number; timeoutMs?: number }): Promise<{ finishedJobs: number }> {
  let last: Sample[] = [];
  let finished = 0;
  const total = (keep: (sample: Sample) => boolean) => last.filter(keep).reduce((sum, sample) => sum + sample.value, 0);
  await waitFor(async () => {
    last = samplesOf(await readMetrics(), 'imagefleet_queue_jobs');
    const pending = total((sample) => PENDING.has(sample.labels.state ?? ''));
    finished = total((sample) => INPUT_QUEUES.has(sample.labels.queue ?? '') && (sample.labels.state === 'completed' || sample.labels.state === 'failed'));
    return pending === 0 && finished >= options.jobs;
  }, options.timeoutMs ?? 30_000, `an idle fleet with ${options.jobs} input jobs finished`).catch((error: Error) => {
    throw new Error(`${error.message}; last queue sample: ${JSON.stringify(last.map((sample) => [sample.labels.queue, sample.labels.state, sample.value]))}`);
  });
  return { finishedJobs: finished };
}

/** The health URL a worker process logged at start (WORKER_PORT=0 picks a free port). */
export function workerUrl(worker: WorkerProcess): string | undefined {
  const url = worker.lines.find((line) => line.msg === 'worker started')?.health;
  return typeof url === 'string' ? url : undefined;
}

/** Inputs a live worker process finished (imagefleet_jobs_total), by outcome: ok or the error code. */
export async function workerOutcomes(worker: WorkerProcess): Promise<Map<string, number>> {
  const url = workerUrl(worker);
  if (!url) throw new Error('the worker has not logged its health URL yet');
  const outcomes = new Map<string, number>();
  for (const sample of samplesOf(await metricsAt(url)(), 'imagefleet_jobs_total')) {
    const outcome = sample.labels.outcome ?? '';
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + sample.value);
  }
  return outcomes;
}

/** Inputs a live worker process finished, every outcome together. */
export async function workerFinished(worker: WorkerProcess): Promise<number> {
  if (!workerUrl(worker)) return 0;
  return [...(await workerOutcomes(worker)).values()].reduce((sum, count) => sum + count, 0);
}

/** Attempts a live worker process timed through one stage (imagefleet_job_stage_seconds_count), every task together. */
export async function workerStageCount(worker: WorkerProcess, stage: string): Promise<number> {
  const url = workerUrl(worker);
  if (!url) return 0;
  return samplesOf(await metricsAt(url)(), 'imagefleet_job_stage_seconds_count')
    .filter((sample) => sample.labels.stage === stage)
    .reduce((sum, sample) => sum + sample.value, 0);
}

/** /metrics of a worker process, at the health URL its 'worker started' line names (wait for that line first). */
export function workerMetricsOf(worker: WorkerProcess): Promise<string> {
  const url = workerUrl(worker);
  if (!url) throw new Error('the worker has not logged its health URL yet');
  return metricsAt(url)();
}

/** The sum of a metric's samples whose labels include `labels` (0 when none). */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  return samplesOf(text, name)
    .filter((sample) => Object.entries(labels).every(([label, value]) => sample.labels[label] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}
