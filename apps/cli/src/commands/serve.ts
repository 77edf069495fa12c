import { pino } from 'pino';
import { createLogger, loadConfig, type Config, type Logger } from '@imagefleet/core';
import { startProducer, type RunningProducer } from '@imagefleet/producer';
import { startWorker, type RunningWorker } from '@imagefleet/worker';
import { ensureLocalRedis, type LocalRedis } from '../local-redis.js';
import { createMetricsRegistry } from '@imagefleet/metrics';
import { ApiKeyStore, createRedis } from '@imagefleet/jobs';
import { localAuthDefault } from '../auth-default.js';

export interface Stack {
  config: Config;
  logger: Logger;
  redis?: LocalRedis;
  producer?: RunningProducer;
  worker?: RunningWorker;
  stop(): Promise<void>;
}

async function apiKeyCount(env: NodeJS.ProcessEnv): Promise<number> {
  const config = loadConfig(env);
  const redis = createRedis(config.redisUrl, 'imagefleet-auth-default');
  try {
    return await new ApiKeyStore(redis, config.queuePrefix).count();
  } finally {
    redis.disconnect();
  }
}

/**
 * Starts the parts of the fleet asked for; `localRedis` starts redis-server when none answers;
 * `localAuth` (up, demo) turns AUTH off when unset, HOST is loopback and no key exists.
 */
export async function startStack(
  parts: { producer: boolean; worker: boolean; localRedis: boolean; localAuth?: boolean },
  env: NodeJS.ProcessEnv,
  options: { logToStderr?: boolean } = {},
): Promise<Stack> {
  const redis = parts.localRedis ? await ensureLocalRedis(env) : undefined;
  let stackEnv: NodeJS.ProcessEnv = { ...env, ...(redis ? { REDIS_URL: redis.url } : {}) };
  const auth = parts.localAuth ? localAuthDefault(stackEnv, stackEnv.AUTH === undefined ? await apiKeyCount(stackEnv) : 0) : undefined;
  if (auth) stackEnv = { ...stackEnv, AUTH: auth.auth };
  const config = loadConfig(stackEnv);
  const logger = createLogger('imagefleet', config.logLevel, options.logToStderr ? pino.destination(2) : undefined);
  if (redis?.child) logger.info({ url: redis.url, dataDir: 'data/redis' }, 'started a local redis-server');
  if (auth?.reason) logger.warn(auth.reason);
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
