import type { Config, Logger } from '@imagefleet/core';
import { closeWorkerDeps, createWorkerDeps } from './deps.js';
import { FleetWorker } from './fleet-worker.js';

export interface RunningWorker {
  /** Graceful stop: finish active jobs within SHUTDOWN_TIMEOUT_MS, then close connections. */
  stop(): Promise<void>;
}

export async function startWorker(config: Config, logger: Logger): Promise<RunningWorker> {
  const deps = createWorkerDeps(config, logger);
  const worker = new FleetWorker(deps);
  await worker.waitUntilReady();
  logger.info({ concurrency: config.workerConcurrency, queuePrefix: config.queuePrefix }, 'worker started');
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
