import type { Config, Logger } from '@imagefleet/core';
import { createJobBackend, type JobBackend } from '@imagefleet/jobs';
import { StoreRegistry, s3SettingsFrom } from '@imagefleet/storage';
import { registerJobMetrics, type JobMetrics, type Registry } from '@imagefleet/metrics';
import type { EngineRuntime } from './engine-runtime.js';
import type { Probation } from './probation.js';

/** What a worker needs from the outside world; built once per process. */
export interface WorkerDeps extends JobBackend {
  config: Config;
  logger: Logger;
  stores: StoreRegistry;
  metrics: JobMetrics;
  /** Present when this worker runs a vision engine (ENGINE=llama or openai). */
  engine?: EngineRuntime;
  probation?: Probation;
}

export function createWorkerDeps(config: Config, logger: Logger, registry: Registry): WorkerDeps {
  return {
    ...createJobBackend(config, 'imagefleet-worker'),
    config,
    logger,
    stores: new StoreRegistry(s3SettingsFrom(config)),
    metrics: registerJobMetrics(registry),
  };
}

export async function closeWorkerDeps(deps: WorkerDeps): Promise<void> {
  deps.probation?.stop();
  await deps.engine?.close();
  await deps.close();
  deps.stores.close();
}
