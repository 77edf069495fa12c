import type { Config, Logger } from '@imagefleet/core';
import type { EngineSupervisor } from '@imagefleet/engine';
import { createJobBackend, type JobBackend } from '@imagefleet/jobs';
import { StoreRegistry, s3SettingsFrom } from '@imagefleet/storage';
import { registerJobMetrics, type JobMetrics, type Registry } from '@imagefleet/metrics';

/**
 * What a worker needs from the outside world; built once per process. Jobs only through the
 * facade (`jobs`, no BullMQ queues), so tests can pass MemoryJobQueues.
 */
export interface WorkerDeps extends Pick<JobBackend, 'redis' | 'batches' | 'jobs' | 'workers' | 'close'> {
  config: Config;
  logger: Logger;
  stores: StoreRegistry;
  metrics: JobMetrics;
  /** Present when this worker runs a vision engine (ENGINE=server, llama or openai). */
  engine?: EngineSupervisor;
  /** MODEL_ID of the engine, known once it started; the result cache keys on it (no cache without it). */
  modelId?: string;
}

export function createWorkerDeps(config: Config, logger: Logger, registry: Registry): WorkerDeps {
  return {
    ...createJobBackend(config, 'imagefleet-worker', { onError: (error, queue) => logger.warn({ err: error, queue }, 'Redis connection error; waiting for it to come back') }),
    config,
    logger,
    stores: new StoreRegistry(s3SettingsFrom(config)),
    metrics: registerJobMetrics(registry),
  };
}

export async function closeWorkerDeps(deps: WorkerDeps): Promise<void> {
  await deps.engine?.close();
  await deps.close();
  deps.stores.close();
}
