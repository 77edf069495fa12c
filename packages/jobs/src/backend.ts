import type { Redis } from 'ioredis';
import type { Config } from '@imagefleet/core';
import { ApiKeyStore } from './api-keys.js';
import { BatchIndex } from './batch-index.js';
import { BatchRegistry } from './batch-registry.js';
import { FairShare, type RoundsClamped } from './fair-share.js';
import { JobQueues, type JobQueueOps } from './job-queues.js';
import { registerScripts } from './lua-scripts.js';
import { createQueues, type Queues } from './queues.js';
import { createFailFastRedis, createRedis } from './redis.js';
import { WorkerHeartbeats } from './worker-heartbeats.js';

/** One Redis connection with the batch registry and queues on it: what producers and workers share. */
export interface JobBackend {
  redis: Redis;
  batches: BatchRegistry;
  /** Every batch (and each tenant's), newest first, a page at a time. */
  batchIndex: BatchIndex;
  /** API keys (hashed tokens, scopes, revocation). */
  apiKeys: ApiKeyStore;
  /** The heartbeats of live workers (what the fleet serves now). */
  workers: WorkerHeartbeats;
  /** Queue operations without BullMQ (enqueue, finalize, remove, state, counts). */
  jobs: JobQueueOps;
  /** The BullMQ queues themselves; prefer `jobs`. */
  queues: Queues;
  close(): Promise<void>;
}

export interface JobBackendOptions {
  /** Connection errors of the queues (Redis unreachable), at most one per queue per 10 s. */
  onError?: (error: Error, queue: string) => void;
  /**
   * A fail-fast connection for request paths: commands fail within about a second while Redis is
   * unreachable, as UnavailableError (HTTP 503). Default: the patient connection workers need.
   */
  failFast?: boolean;
  /** A page's jobs got the highest BullMQ priority (fair share ends for that busy period; see fair-share.ts). */
  onRoundsClamped?: (event: RoundsClamped) => void;
}

export function createJobBackend(config: Config, connectionName: string, options: JobBackendOptions = {}): JobBackend {
  const failFast = options.failFast === true;
  const redis = failFast ? createFailFastRedis(config.redisUrl, connectionName) : createRedis(config.redisUrl, connectionName);
  const queues = createQueues(redis, config.queuePrefix, { attempts: config.jobAttempts, backoffMs: config.jobBackoffMs, webhookAttempts: config.webhookAttempts }, throttled(options.onError));
  const batches = new BatchRegistry(redis, config.queuePrefix, config.batchTtlSeconds, { failFast });
  return {
    redis,
    batches,
    batchIndex: new BatchIndex(redis, config.queuePrefix, batches, failFast),
    apiKeys: new ApiKeyStore(redis, config.queuePrefix, { failFast }),
    workers: new WorkerHeartbeats(redis, config.queuePrefix, failFast),
    jobs: new JobQueues(queues, redis, config.queuePrefix, new FairShare(redis, config.queuePrefix, registerScripts(redis), { interactiveShare: config.interactiveShare, onRoundsClamped: options.onRoundsClamped }), { failFast }),
    queues,
    async close() {
      await queues.close();
      redis.disconnect();
    },
  };
}

/** Passes on at most one error per queue per intervalMs (a Redis outage repeats the same error on every reconnect). */
function throttled(onError: JobBackendOptions['onError'], intervalMs = 10_000): (error: Error, queue: string) => void {
  const last = new Map<string, number>();
  return (error, queue) => {
    const now = Date.now();
    if (now - (last.get(queue) ?? 0) < intervalMs) return;
    last.set(queue, now);
    onError?.(error, queue);
  };
}
