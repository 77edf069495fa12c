import type { Redis } from 'ioredis';
import type { Config } from '@imagefleet/core';
import { BatchRegistry } from './batch-registry.js';
import { createQueues, type Queues } from './queues.js';
import { createRedis } from './redis.js';

/** One Redis connection with the batch registry and queues on it: what producers and workers share. */
export interface JobBackend {
  redis: Redis;
  batches: BatchRegistry;
  queues: Queues;
  close(): Promise<void>;
}

export function createJobBackend(config: Config, connectionName: string): JobBackend {
  const redis = createRedis(config.redisUrl, connectionName);
  const queues = createQueues(redis, config.queuePrefix, { attempts: config.jobAttempts, backoffMs: config.jobBackoffMs });
  return {
    redis,
    batches: new BatchRegistry(redis, config.queuePrefix, config.batchTtlSeconds),
    queues,
    async close() {
      await queues.close();
      redis.disconnect();
    },
  };
}
