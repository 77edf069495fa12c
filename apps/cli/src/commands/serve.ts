import { pino } from 'pino';
import { createLogger, loadConfig, type Config, type Logger } from '@imagefleet/core';
import { startProducer, type RunningProducer } from '@imagefleet/producer';
import { startWorker, type RunningWorker } from '@imagefleet/worker';
import { ensureLocalRedis, type LocalRedis } from '../local-redis.js';
import { createMetricsRegistry } from '@imagefleet/metrics';

export interface Stack {
  config: Config;
  logger: Logger;
  redis?: LocalRedis;
  producer?: RunningProducer;
  worker?: RunningWorker;
  stop(): Promise<void>;
}

/** Starts the parts of the fleet asked for; `localRedis` starts redis-server when none answers. */
export async function startStack(
  parts: { producer: boolean; worker: boolean; localRedis: boolean },
  env: NodeJS.ProcessEnv,
  options: { logToStderr?: boolean } = {},
): Promise<Stack> {
  const redis = parts.localRedis ? await ensureLocalRedis(env) : undefined;
  const config = loadConfig({ ...env, ...(redis ? { REDIS_URL: redis.url } : {}) });
  const logger = createLogger('imagefleet', config.logLevel, options.logToStderr ? pino.destination(2) : undefined);
  if (redis?.child) logger.info({ url: redis.url, dataDir: 'data/redis' }, 'started a local redis-server');
  const stack: Stack = {
    config,
    logger,
    redis,
    async stop() {
      await stack.worker?.stop();
      await stack.producer?.stop();
      await redis?.stop();
    },
  };
  try {
    // One process for both: the worker's metrics join the API's /metrics, no second port.
    const metrics = parts.producer ? createMetricsRegistry({ service: 'imagefleet' }) : undefined;
    if (parts.worker) stack.worker = await startWorker(config, logger, { metrics, serveHealth: !parts.producer });
    if (parts.producer) stack.producer = await startProducer(config, logger, metrics);
  } catch (error) {
    await stack.stop().catch(() => undefined);
    throw error;
  }
  return stack;
}

/** Runs until SIGTERM/SIGINT, then stops gracefully and exits 0. */
export async function serveUntilSignal(stack: Stack): Promise<void> {
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      stack.logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await stack.stop();
}
