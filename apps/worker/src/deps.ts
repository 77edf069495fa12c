import type { Redis } from 'ioredis';
import type { Config, Logger } from '@imagefleet/core';
import { BatchRegistry, createQueues, createRedis, type Queues } from '@imagefleet/jobs';
import { StoreRegistry, s3SettingsFrom } from '@imagefleet/storage';

/** What a worker needs from the outside world; built once per process. */
export interface WorkerDeps {
  config: Config;
  logger: Logger;
  redis: Redis;
  batches: BatchRegistry;
  queues: Queues;
  stores: StoreRegistry;
}

export function createWorkerDeps(config: Config, logger: Logger): WorkerDeps {
  const redis = createRedis(config.redisUrl, 'imagefleet-worker');
  return {
    config,
    logger,
    redis,
    batches: new BatchRegistry(redis, config.queuePrefix, config.batchTtlSeconds),
    queues: createQueues(redis, config.queuePrefix, { attempts: config.jobAttempts, backoffMs: config.jobBackoffMs }),
    stores: new StoreRegistry(s3SettingsFrom(config)),
  };
}

export async function closeWorkerDeps(deps: WorkerDeps): Promise<void> {
  await deps.queues.close();
  deps.stores.close();
  deps.redis.disconnect();
}
