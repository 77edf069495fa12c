import type { Redis } from 'ioredis';
import type { BatchSource, BatchState, BatchStatus } from '@imagefleet/core';
import { cancelScript, finishListingScript, markFinishedScript, recordOutcomeScript, recordPageScript } from './batch-scripts.js';

export type OutcomeStatus = 'ok' | 'failed';

/** What a batch was asked to do; stored once at creation. */
export interface BatchRequest {
  id: string;
  task: string;
  source: BatchSource;
  /** Location of the store the inputs are read from (s3://bucket or a directory). */
  sourceStore: string;
  options?: Record<string, unknown>;
  webhook?: string;
  /** Where results and the manifest go, fixed at creation so every worker writes to the same place. */
  resultsUrl: string;
}

export interface BatchRecord extends BatchRequest {
  state: BatchState;
  total: number;
  completed: number;
  failed: number;
  skipped: number;
  cursor: string | undefined;
  createdAt: string;
  finishedAt: string | null;
}

function toNumber(value: string | undefined): number {
  return value === undefined ? 0 : Number(value);
}

/** Batch state in Redis: counters, exactly-once outcomes, and the listing cursor for resuming. */
export class BatchRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  private batchKey(id: string): string {
    return `${this.prefix}:batch:${id}`;
  }

  private doneKey(id: string): string {
    return `${this.prefix}:batch:${id}:done`;
  }

  private listerLockKey(id: string): string {
    return `${this.prefix}:batch:${id}:lister`;
  }

  private get indexKey(): string {
    return `${this.prefix}:batches`;
  }

  /** Creates the batch unless it exists; returns false when it already did (an idempotent re-post). */
  async create(request: BatchRequest, now = new Date()): Promise<boolean> {
    const fields: Record<string, string> = {
      id: request.id,
      task: request.task,
      state: 'listing',
      source: JSON.stringify(request.source),
      sourceStore: request.sourceStore,
      options: JSON.stringify(request.options ?? {}),
      resultsUrl: request.resultsUrl,
      total: '0',
      completed: '0',
      failed: '0',
      skipped: '0',
      createdAt: now.toISOString(),
    };
    if (request.webhook) fields.webhook = request.webhook;
    const created = await this.redis.hsetnx(this.batchKey(request.id), 'id', request.id);
    if (created === 0) return false;
    await this.redis.multi().hset(this.batchKey(request.id), fields).zadd(this.indexKey, now.getTime(), request.id).exec();
    return true;
  }

  async get(id: string): Promise<BatchRecord | undefined> {
    const hash = await this.redis.hgetall(this.batchKey(id));
    if (!hash.id || !hash.state) return undefined;
    return {
      id: hash.id,
      task: hash.task ?? '',
      state: hash.state as BatchState,
      source: JSON.parse(hash.source ?? '{}') as BatchSource,
      sourceStore: hash.sourceStore ?? '',
      options: JSON.parse(hash.options ?? '{}') as Record<string, unknown>,
      webhook: hash.webhook,
      resultsUrl: hash.resultsUrl ?? '',
      total: toNumber(hash.total),
      completed: toNumber(hash.completed),
      failed: toNumber(hash.failed),
      skipped: toNumber(hash.skipped),
      cursor: hash.cursor,
      createdAt: hash.createdAt ?? new Date(0).toISOString(),
      finishedAt: hash.finishedAt ?? null,
    };
  }

  async state(id: string): Promise<BatchState | undefined> {
    return ((await this.redis.hget(this.batchKey(id), 'state')) as BatchState | null) ?? undefined;
  }

  /** Adds one listed page to the counters and moves the resume cursor; false if the batch was cancelled. */
  async recordPage(id: string, page: { enqueued: number; skipped: number; cursor: string | undefined }): Promise<boolean> {
    const result = await this.redis.eval(recordPageScript, 1, this.batchKey(id), page.enqueued, page.skipped, page.cursor ?? '');
    return result === 1;
  }

  /** Marks the source fully enqueued (state running); true when all inputs are already finished (the caller finalizes). */
  async finishListing(id: string): Promise<boolean> {
    return (await this.redis.eval(finishListingScript, 1, this.batchKey(id))) === 1;
  }

  /**
   * Records the final outcome of one input, once: a job re-run after a crash does not count twice.
   * Returns complete = true whenever every input of a fully listed batch is done.
   */
  async recordOutcome(id: string, jobId: string, key: string, status: OutcomeStatus): Promise<{ added: boolean; complete: boolean }> {
    const counter = status === 'ok' ? 'completed' : 'failed';
    const [added, complete] = (await this.redis.eval(
      recordOutcomeScript,
      2,
      this.batchKey(id),
      this.doneKey(id),
      jobId,
      `${status}\t${key}`,
      counter,
    )) as [number, number];
    return { added: added === 1, complete: complete === 1 };
  }

  /** Which of these job ids already have an outcome (so a resumed listing does not redo them). */
  async finishedJobIds(id: string, jobIds: string[]): Promise<Set<string>> {
    if (jobIds.length === 0) return new Set();
    const values = await this.redis.hmget(this.doneKey(id), ...jobIds);
    return new Set(jobIds.filter((_, index) => values[index] !== null));
  }

  async outcome(id: string, jobId: string): Promise<{ status: OutcomeStatus; key: string } | undefined> {
    const value = await this.redis.hget(this.doneKey(id), jobId);
    if (value === null) return undefined;
    const tab = value.indexOf('\t');
    return { status: value.slice(0, tab) as OutcomeStatus, key: value.slice(tab + 1) };
  }

  /** Moves a running batch to its final state and starts the TTL of its records; false if not running. */
  async markFinished(id: string, state: 'completed' | 'completed_with_errors', now = new Date()): Promise<boolean> {
    const result = await this.redis.eval(markFinishedScript, 3, this.batchKey(id), this.doneKey(id), this.indexKey, id, state, now.toISOString(), this.ttlSeconds);
    return result === 1;
  }

  /** 'cancelled' on success, 'finished' if it already ended, 'missing' if unknown. */
  async cancel(id: string, now = new Date()): Promise<'cancelled' | 'finished' | 'missing'> {
    const result = await this.redis.eval(cancelScript, 3, this.batchKey(id), this.doneKey(id), this.indexKey, id, now.toISOString(), this.ttlSeconds);
    return result === 1 ? 'cancelled' : result === 0 ? 'finished' : 'missing';
  }

  /** One lister per batch across producers; the lock expires if its holder dies. */
  async acquireListerLock(id: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.listerLockKey(id), owner, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async renewListerLock(id: string, owner: string, ttlMs: number): Promise<boolean> {
    const script = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
    return (await this.redis.eval(script, 1, this.listerLockKey(id), owner, String(ttlMs))) === 1;
  }

  async releaseListerLock(id: string, owner: string): Promise<void> {
    const script = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
    await this.redis.eval(script, 1, this.listerLockKey(id), owner);
  }

  /** Unfinished batches (the index holds nothing else), newest first, that are in one of `states`. */
  private async unfinished(states: BatchState[], limit: number): Promise<string[]> {
    const ids = (await this.redis.zrange(this.indexKey, '0', '-1')).reverse();
    // Sent together: ioredis writes them all before the first answer comes back.
    const current = await Promise.all(ids.map((id) => this.state(id)));
    return ids.filter((_, index) => current[index] !== undefined && states.includes(current[index]!)).slice(0, limit);
  }

  /** Ids of batches still listing (to resume after a producer restart). */
  async listingBatchIds(limit = 1000): Promise<string[]> {
    return this.unfinished(['listing'], limit);
  }

  /** Batches still listing or running, newest first, at most `limit`. */
  async activeBatches(limit = 20): Promise<BatchRecord[]> {
    const records = await Promise.all((await this.unfinished(['listing', 'running'], limit)).map((id) => this.get(id)));
    return records.filter((record): record is BatchRecord => record !== undefined);
  }
}

/** The public view of a batch: counters plus throughput and ETA. */
export function toBatchStatus(record: BatchRecord, now = Date.now()): BatchStatus {
  const done = record.completed + record.failed;
  const end = record.finishedAt ? Date.parse(record.finishedAt) : now;
  const seconds = Math.max((end - Date.parse(record.createdAt)) / 1000, 0.001);
  const throughput = Math.round((done / seconds) * 100) / 100;
  const remaining = Math.max(record.total - done, 0);
  const finished = record.state !== 'listing' && record.state !== 'running';
  return {
    id: record.id,
    task: record.task,
    state: record.state,
    total: record.total,
    completed: record.completed,
    failed: record.failed,
    skipped: record.skipped,
    createdAt: record.createdAt,
    finishedAt: record.finishedAt,
    throughput,
    eta: finished ? 0 : throughput > 0 && record.state === 'running' ? Math.round((remaining / throughput) * 10) / 10 : null,
  };
}
