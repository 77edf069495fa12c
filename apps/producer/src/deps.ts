import type { Redis } from 'ioredis';
import type { Config, Logger } from '@imagefleet/core';
import { BatchRegistry, createQueues, createRedis, type Queues } from '@imagefleet/jobs';
import { StoreRegistry, s3SettingsFrom } from '@imagefleet/storage';
import { createMetricsRegistry, type Registry } from '@imagefleet/metrics';

export interface ProducerDeps {
  config: Config;
  logger: Logger;
  redis: Redis;
  batches: BatchRegistry;
  queues: Queues;
  stores: StoreRegistry;
  metrics: Registry;
}

export function createProducerDeps(config: Config, logger: Logger, metrics = createMetricsRegistry({ service: 'producer' })): ProducerDeps {
  const redis = createRedis(config.redisUrl, 'imagefleet-producer');
  return {
    config,
    logger,
    redis,
    batches: new BatchRegistry(redis, config.queuePrefix, config.batchTtlSeconds),
    queues: createQueues(redis, config.queuePrefix, { attempts: config.jobAttempts, backoffMs: config.jobBackoffMs }),
    stores: new StoreRegistry(s3SettingsFrom(config)),
    metrics,
  };
}

export async function closeProducerDeps(deps: ProducerDeps): Promise<void> {
  await deps.queues.close();
  deps.stores.close();
  deps.redis.disconnect();
}
