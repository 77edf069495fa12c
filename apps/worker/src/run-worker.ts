import type { Config, Logger } from '@imagefleet/core';
import { closeWorkerDeps, createWorkerDeps } from './deps.js';
import { FleetWorker } from './fleet-worker.js';
import { startLlamaEngine } from './engine-runtime.js';
import { Probation } from './probation.js';

export interface RunningWorker {
  /** Graceful stop: finish active jobs within SHUTDOWN_TIMEOUT_MS, then close connections. */
  stop(): Promise<void>;
}

export async function startWorker(config: Config, logger: Logger): Promise<RunningWorker> {
  const deps = createWorkerDeps(config, logger);
  try {
    if (config.engine === 'llama') {
      deps.engine = await startLlamaEngine(config, logger);
      deps.probation = new Probation(deps.engine.gate, deps.engine.plannedSlots);
    }
  } catch (error) {
    await closeWorkerDeps(deps);
    throw error;
  }
  const worker = new FleetWorker(deps);
  await worker.waitUntilReady();
  logger.info({ concurrency: config.workerConcurrency, queuePrefix: config.queuePrefix, engine: config.engine, model: deps.engine?.modelName, slots: deps.engine?.plannedSlots }, 'worker started');
  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        logger.info({ timeoutMs: config.shutdownTimeoutMs }, 'worker stopping: finishing active jobs');
        const { graceful } = await worker.close(config.shutdownTimeoutMs);
        await closeWorkerDeps(deps);
        logger.info({ graceful }, graceful ? 'worker stopped' : 'worker stopped at the deadline; unfinished jobs will be retried elsewhere');
      })();
      return stopping;
    },
  };
}
