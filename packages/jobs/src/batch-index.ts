import type { Redis } from 'ioredis';
import type { BatchState } from '@imagefleet/core';
import type { BatchRecord, BatchRegistry } from './batch-registry.js';
import { runFailFast } from './redis.js';

/** Every batch, scored by creation time (ms); entries outlive their batch until a listing drops them. */
export function allBatchesKey(prefix: string): string {
  return `${prefix}:batches:all`;
}

/** One tenant's batches (the API key id that created them), scored like allBatchesKey. */
export function tenantBatchesKey(prefix: string, tenant: string): string {
  return `${prefix}:batches:tenant:${tenant}`;
}

/** A place in a listing: the last batch a page went through (newest first, ties by id descending). */
export interface BatchPosition {
  createdAtMs: number;
  id: string;
}

export interface BatchPageQuery {
  /** Whose batches: one tenant's, or undefined for every batch. */
  tenant: string | undefined;
  /** Only batches in one of these states; every state when empty or absent. */
  states?: readonly BatchState[];
  limit: number;
  after?: BatchPosition;
}

export interface BatchPage {
  batches: BatchRecord[];
  /** Where the next page starts; undefined when the index has nothing further. */
  next: BatchPosition | undefined;
}

/** Index entries one page reads at most when a state filter skips most of them (the page then comes back short, with `next`). */
export const LISTING_SCAN_LIMIT = 2000;
const CHUNK = 500;

/**
 * Lists batches newest first from the creation-time indexes, a page at a time. Keyset paging (the
 * position of the last entry read, never an offset) keeps pages free of duplicates and gaps while
 * new batches arrive: they land before every position already handed out. Entries whose batch
 * hash has expired (BATCH_TTL_SECONDS after it ended) are dropped as they are met.
 */
export class BatchIndex {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly registry: BatchRegistry,
    private readonly failFast = false,
  ) {}

  async page(query: BatchPageQuery): Promise<BatchPage> {
    const key = query.tenant === undefined ? allBatchesKey(this.prefix) : tenantBatchesKey(this.prefix, query.tenant);
    const states = query.states && query.states.length > 0 ? new Set(query.states) : undefined;
    const batches: BatchRecord[] = [];
    let position = query.after;
    let scanned = 0;
    while (batches.length < query.limit && scanned < LISTING_SCAN_LIMIT) {
      const count = Math.min(states ? CHUNK : query.limit - batches.length, LISTING_SCAN_LIMIT - scanned);
      const entries = await this.entriesAfter(key, position, count);
      const records = await Promise.all(entries.map((entry) => this.registry.get(entry.id)));
      const gone: string[] = [];
      for (const [index, entry] of entries.entries()) {
        const record = records[index];
        if (!record) gone.push(entry.id);
        else if (!states || states.has(record.state)) batches.push(record);
        position = entry;
        scanned += 1;
        if (batches.length === query.limit) break;
      }
      await this.drop(key, gone);
      if (entries.length < count) return { batches, next: undefined };
    }
    return { batches, next: position };
  }

  /** Up to `count` index entries after `position`, newest first. */
  private async entriesAfter(key: string, position: BatchPosition | undefined, count: number): Promise<BatchPosition[]> {
    if (!position) return toPositions(await this.run(() => this.redis.zrevrangebyscore(key, '+inf', '-inf', 'WITHSCORES', 'LIMIT', 0, count)));
    // Same creation time as the position: the ids below it (ZREVRANGE orders ties by id, descending).
    const replies = await this.run(() =>
      this.redis.multi().zrangebyscore(key, position.createdAtMs, position.createdAtMs).zrevrangebyscore(key, `(${position.createdAtMs}`, '-inf', 'WITHSCORES', 'LIMIT', 0, count).exec(),
    );
    const ties = ((replies?.[0]?.[1] ?? []) as string[])
      .filter((id) => id < position.id)
      .sort()
      .reverse()
      .map((id) => ({ createdAtMs: position.createdAtMs, id }));
    return [...ties, ...toPositions((replies?.[1]?.[1] ?? []) as string[])].slice(0, count);
  }

  /** Index entries of expired batches leave the index read and the index of every batch. */
  private async drop(key: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const everyBatch = allBatchesKey(this.prefix);
    await this.run(() => this.redis.multi().zrem(key, ...ids).zrem(everyBatch, ...ids).exec());
  }

  private run<T>(work: () => Promise<T>): Promise<T> {
    return runFailFast(this.redis, this.failFast, work);
  }
}

function toPositions(flat: string[]): BatchPosition[] {
  const positions: BatchPosition[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) positions.push({ id: flat[i]!, createdAtMs: Number(flat[i + 1]) });
  return positions;
}
