import type { Redis } from 'ioredis';
import type { QueueCounts } from './job-queues.js';
import { runFailFast } from './redis.js';

/** What one live worker process says about itself every HEARTBEAT_MS. */
export interface WorkerHeartbeat {
  /** host:pid */
  workerId: string;
  modelId: string;
  /** server, llama, openai or none */
  engine: string;
  /** The GPU's name, `cpu`, or `remote` (ENGINE=openai) */
  device: string;
  /** Parallel sequences the engine serves now (0 without an engine). */
  slots: number;
  /** Images finished per second over the last minute. */
  imagesPerSecond: number;
  jobsInFlight: number;
  /** ISO time of this heartbeat. */
  lastSeen: string;
}

/** One worker's heartbeat; expires on its own when the worker stops publishing. */
export function workerHeartbeatKey(prefix: string, workerId: string): string {
  return `${prefix}:workers:${workerId}`;
}

/** The ids of workers that published, scored by their last heartbeat (ms); entries of expired heartbeats are dropped on read. */
export function workerIndexKey(prefix: string): string {
  return `${prefix}:workers`;
}

/**
 * Live workers, as their heartbeats in Redis: each a key with a TTL of a few intervals (a killed
 * worker disappears once it lapses), listed through an index so no key scan is needed.
 */
export class WorkerHeartbeats {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly failFast = false,
  ) {}

  async publish(heartbeat: WorkerHeartbeat, ttlMs: number): Promise<void> {
    await this.redis
      .multi()
      .set(workerHeartbeatKey(this.prefix, heartbeat.workerId), JSON.stringify(heartbeat), 'PX', ttlMs)
      .zadd(workerIndexKey(this.prefix), Date.parse(heartbeat.lastSeen), heartbeat.workerId)
      .exec();
  }

  /** A graceful stop: the worker leaves the listing at once. */
  async remove(workerId: string): Promise<void> {
    await this.redis.multi().del(workerHeartbeatKey(this.prefix, workerId)).zrem(workerIndexKey(this.prefix), workerId).exec();
  }

  /** Every worker whose heartbeat has not expired, ordered by id. */
  async live(): Promise<WorkerHeartbeat[]> {
    const ids = await this.run(() => this.redis.zrange(workerIndexKey(this.prefix), '0', '-1'));
    if (ids.length === 0) return [];
    const values = await this.run(() => this.redis.mget(ids.map((id) => workerHeartbeatKey(this.prefix, id))));
    const gone = ids.filter((_, index) => values[index] === null);
    if (gone.length > 0) await this.run(() => this.redis.zrem(workerIndexKey(this.prefix), ...gone));
    return values
      .filter((value): value is string => value !== null)
      .map((value) => JSON.parse(value) as WorkerHeartbeat)
      .sort((a, b) => a.workerId.localeCompare(b.workerId));
  }

  private run<T>(work: () => Promise<T>): Promise<T> {
    return runFailFast(this.redis, this.failFast, work);
  }
}

/** Jobs in a model's own queue: not taken yet (waiting, prioritized, delayed for a retry), and running. */
export interface ModelQueueDepth {
  waiting: number;
  active: number;
}

/** One model the fleet serves now: its live workers and their sums (and, when asked, its queue). */
export interface FleetModel {
  modelId: string;
  workers: WorkerHeartbeat[];
  totals: { workers: number; slots: number; imagesPerSecond: number };
  /** The model's own queue (jobs of batches naming it); absent unless queue counts were given. */
  queue?: ModelQueueDepth;
}

function queueDepths(queues: readonly QueueCounts[]): Map<string, ModelQueueDepth> {
  const depths = new Map<string, ModelQueueDepth>();
  for (const { model, counts } of queues) {
    if (model !== undefined) depths.set(model, { waiting: counts.wait + counts.prioritized + counts.delayed, active: counts.active });
  }
  return depths;
}

/**
 * Live workers grouped by model id, models ordered by id. With queue counts, each model shows its
 * queue, and a model nobody serves is listed (with no workers) while jobs wait in its queue.
 */
export function fleetModels(heartbeats: readonly WorkerHeartbeat[], queues?: readonly QueueCounts[]): FleetModel[] {
  const byModel = new Map<string, WorkerHeartbeat[]>();
  for (const heartbeat of heartbeats) byModel.set(heartbeat.modelId, [...(byModel.get(heartbeat.modelId) ?? []), heartbeat]);
  const depths = queueDepths(queues ?? []);
  for (const [model, depth] of depths) if (!byModel.has(model) && depth.waiting + depth.active > 0) byModel.set(model, []);
  return [...byModel.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([modelId, workers]) => ({
      modelId,
      workers,
      totals: {
        workers: workers.length,
        slots: workers.reduce((sum, worker) => sum + worker.slots, 0),
        imagesPerSecond: Math.round(workers.reduce((sum, worker) => sum + worker.imagesPerSecond, 0) * 1000) / 1000,
      },
      ...(queues === undefined ? {} : { queue: depths.get(modelId) ?? { waiting: 0, active: 0 } }),
    }));
}

/** The models live workers with a vision engine serve now (a worker without one takes no model jobs), sorted. */
export function servedModelIds(heartbeats: readonly WorkerHeartbeat[]): string[] {
  return [...new Set(heartbeats.filter((heartbeat) => heartbeat.engine !== 'none').map((heartbeat) => heartbeat.modelId))].sort();
}
