import type { Redis } from 'ioredis';
import type { BatchState, ResultLine, SkipReason, SkippedLine } from '@imagefleet/core';
import { batchHashKey, recordFromHash, toNumber, type BatchRecord, type BatchRequest } from './batch-record.js';
import { RedisLock } from './locks.js';
import { allBatchesKey, tenantBatchesKey } from './batch-index.js';
import { registerScripts, type Scripts } from './lua-scripts.js';
import { runFailFast } from './redis.js';
import { queuedJobsKey } from './queued-jobs.js';

export type { BatchRecord, BatchRequest } from './batch-record.js';

/**
 * unstorable: recorded, then the store refused its result object for good (counted as failed).
 * document: split into pages (each an input with its own outcome); finalize joins their results.
 */
export type OutcomeStatus = 'ok' | 'failed' | 'unstorable' | 'document';

/** A recorded outcome; `pages` for a document. */
export interface RecordedOutcome {
  status: OutcomeStatus;
  key: string;
  pages?: number;
}

/** Skipped inputs whose key and reason the batch keeps for its manifest (all are counted). */
export const SKIPPED_KEYS_KEPT = 1000;

/** The outcome of claimOutcome: recorded now, recorded earlier by the same token, or lost. */
export interface Claim {
  /** This call recorded the outcome. */
  added: boolean;
  /** The recorded outcome is this token's: the caller writes (or leaves) the result object. */
  mine: boolean;
  /** Every input of a fully listed batch has an outcome: finalize now. */
  complete: boolean;
}

export type RecordPageResult = 'recorded' | 'not_listing' | 'cursor_moved';
/** resumed_complete: resumed running with every input already done (the caller finalizes). */
export type PauseResult = 'paused' | 'wrong_state' | 'missing';
export type ResumeResult = 'resumed' | 'resumed_complete' | 'wrong_state' | 'missing';
export type FinishResult = 'finished' | 'not_running' | 'pending_results' | 'incomplete';

/** The counters the reconciler needs for one unfinished batch. */
export interface BatchSnapshot {
  id: string;
  state: BatchState | undefined;
  total: number;
  done: number;
  listerActive: boolean;
}

/** "<status>\t<key>" in the done hash; "document\t<pages>\t<key>" for a document (keys hold no control characters). */
function parseOutcome(value: string): RecordedOutcome {
  const tab = value.indexOf('\t');
  const status = value.slice(0, tab) as OutcomeStatus;
  if (status !== 'document') return { status, key: value.slice(tab + 1) };
  const second = value.indexOf('\t', tab + 1);
  return { status, key: value.slice(second + 1), pages: Number(value.slice(tab + 1, second)) };
}

export interface BatchRegistryOptions {
  /**
   * On a fail-fast connection (request paths): wait briefly for a reconnecting connection, and
   * throw UnavailableError (HTTP 503) when Redis cannot be reached.
   */
  failFast?: boolean;
}

/**
 * Batch state in Redis: counters, exactly-once outcomes, results waiting to be stored, and the
 * listing cursor for resuming. Every multi-step change is one Lua script (see ../lua).
 *
 * Keys under <prefix>:batch:<id>: the hash; :done (job id -> "<status>\t<key>", every input with an
 * outcome); :pending (job id -> "<token>\n<result line>", outcomes whose object is not stored yet);
 * :queued (job id -> job data JSON: enqueued, no outcome yet; see queued-jobs.ts); :lister (the lister lock). <prefix>:batches indexes unfinished batches only; every batch is also
 * indexed for listing (see batch-index.ts).
 */
export class BatchRegistry {
  private readonly scripts: Scripts;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
    private readonly options: BatchRegistryOptions = {},
  ) {
    this.scripts = registerScripts(redis);
  }

  private batchKey(id: string): string {
    return batchHashKey(this.prefix, id);
  }

  private doneKey(id: string): string {
    return `${this.prefix}:batch:${id}:done`;
  }

  private pendingKey(id: string): string {
    return `${this.prefix}:batch:${id}:pending`;
  }

  private skippedKey(id: string): string {
    return `${this.prefix}:batch:${id}:skipped`;
  }

  private queuedKey(id: string): string {
    return queuedJobsKey(this.prefix, id);
  }

  private get indexKey(): string {
    return `${this.prefix}:batches`;
  }

  /** The lock of the producer listing this batch. */
  listerLock(id: string): RedisLock {
    return new RedisLock(this.redis, this.scripts, `${this.prefix}:batch:${id}:lister`);
  }

  private run<T>(work: () => Promise<T>): Promise<T> {
    return runFailFast(this.redis, this.options.failFast, work);
  }

  /** Creates the batch unless it exists (one Lua step); false when it already did (an idempotent re-post). */
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
    if (request.tenant) fields.tenant = request.tenant;
    if (request.model) fields.model = request.model;
    if (request.webhookSecret) fields.webhookSecret = request.webhookSecret;
    if (request.priority !== undefined) fields.priority = String(request.priority);
    const pairs = Object.entries(fields).flat();
    const everyBatch = allBatchesKey(this.prefix);
    const keys = [this.batchKey(request.id), this.indexKey, everyBatch, request.tenant ? tenantBatchesKey(this.prefix, request.tenant) : everyBatch];
    return this.run(async () => (await this.scripts.createBatch(keys, [request.id, now.getTime(), ...pairs])) === 1);
  }

  async get(id: string): Promise<BatchRecord | undefined> {
    const replies = await this.run(() =>
      this.redis.multi().hgetall(this.batchKey(id)).exists(this.listerLock(id).key).hlen(this.pendingKey(id)).exec(),
    );
    const hash = (replies?.[0]?.[1] ?? {}) as Record<string, string>;
    return recordFromHash(hash, replies?.[1]?.[1] === 1, Number(replies?.[2]?.[1] ?? 0));
  }

  /** The options the batch was created with, as stored (JSON), or undefined when the batch is gone. Jobs do not carry them. */
  async optionsJson(id: string): Promise<string | undefined> {
    return this.run(async () => (await this.redis.hget(this.batchKey(id), 'options')) ?? undefined);
  }

  async state(id: string): Promise<BatchState | undefined> {
    return this.run(async () => ((await this.redis.hget(this.batchKey(id), 'state')) as BatchState | null) ?? undefined);
  }

  /** Before an attempt: the batch's state and whether this input already has an outcome (one round trip). */
  async beforeRun(id: string, jobId: string): Promise<{ state: BatchState | undefined; recorded: boolean }> {
    const replies = await this.run(() => this.redis.multi().hget(this.batchKey(id), 'state').hexists(this.doneKey(id), jobId).exec());
    return { state: ((replies?.[0]?.[1] as string | null) ?? undefined) as BatchState | undefined, recorded: replies?.[1]?.[1] === 1 };
  }

  /**
   * Adds one listed page to the counters and moves the resume cursor, if the cursor is still
   * `after` (the page's start): a second lister that recorded the page first makes this
   * 'cursor_moved'. 'not_listing' when cancelled or already fully listed. `skippedInputs` (their
   * count is in `skipped`) are counted per reason, and the first SKIPPED_KEYS_KEPT kept for the manifest.
   */
  async recordPage(
    id: string,
    page: { enqueued: number; skipped: number; after: string | undefined; cursor: string; skippedInputs?: { key: string; reason: SkipReason }[] },
  ): Promise<RecordPageResult> {
    const skipped = (page.skippedInputs ?? []).flatMap(({ key, reason }) => [reason, JSON.stringify({ key, status: 'skipped', reason } satisfies SkippedLine)]);
    const args = [page.enqueued, page.skipped, page.after ?? '', page.cursor, SKIPPED_KEYS_KEPT, ...skipped];
    const result = await this.run(() => this.scripts.recordPage([this.batchKey(id), this.skippedKey(id)], args));
    return result === 1 ? 'recorded' : result === -1 ? 'cursor_moved' : 'not_listing';
  }

  /** Marks the source fully enqueued (state running); true when all inputs are already finished (the caller finalizes). */
  async finishListing(id: string): Promise<boolean> {
    return this.run(async () => (await this.scripts.finishListing([this.batchKey(id)], [])) === 1);
  }

  /**
   * Claims the one outcome of an input for this attempt (first writer wins), before its result
   * object is written. The winner's line waits in the pending hash until resultStored(). A line
   * marked `cached` also counts in the batch's `cached` counter, once, when it is recorded.
   */
  async claimOutcome(id: string, jobId: string, line: ResultLine, token: string): Promise<Claim> {
    const counter = line.status === 'ok' ? 'completed' : 'failed';
    const cached = line.cached ? '1' : '';
    const [added, mine, complete] = (await this.run(() =>
      this.scripts.claimOutcome([this.batchKey(id), this.doneKey(id), this.pendingKey(id), this.queuedKey(id)], [jobId, `${line.status}\t${line.key}`, counter, token, JSON.stringify(line), cached]),
    )) as [number, number, number];
    return { added: added === 1, mine: mine === 1, complete: complete === 1 };
  }

  /**
   * Records an outcome that has no result object to write (first writer wins, counted once).
   * Returns complete = true whenever every input of a fully listed batch is done.
   */
  async recordOutcome(id: string, jobId: string, key: string, status: OutcomeStatus): Promise<{ added: boolean; complete: boolean }> {
    const counter = status === 'ok' ? 'completed' : 'failed';
    const [added, , complete] = (await this.run(() =>
      this.scripts.claimOutcome([this.batchKey(id), this.doneKey(id), this.pendingKey(id), this.queuedKey(id)], [jobId, `${status}\t${key}`, counter, 'none', '']),
    )) as [number, number, number];
    return { added: added === 1, complete: complete === 1 };
  }

  /**
   * Records that this input is a document of `pages` pages (see expandDocument-2.lua): the page
   * count to enqueue (the first one recorded), 0 when the input already has another outcome, -1
   * when the batch is no longer listing or running.
   */
  async expandDocument(id: string, jobId: string, key: string, pages: number): Promise<number> {
    return this.run(async () => Number(await this.scripts.expandDocument([this.batchKey(id), this.doneKey(id)], [jobId, key, pages])));
  }

  /**
   * The store refuses this outcome's result object for good: it becomes 'unstorable' (failed) and
   * leaves the pending hash. False when nothing was pending for it.
   */
  async markUnstorable(id: string, jobId: string): Promise<boolean> {
    return this.run(async () => (await this.scripts.markUnstorable([this.batchKey(id), this.doneKey(id), this.pendingKey(id)], [jobId])) === 1);
  }

  /** The skipped inputs the batch kept (at most SKIPPED_KEYS_KEPT), a page at a time. */
  async *skippedLines(id: string, pageSize = 500): AsyncGenerator<string[]> {
    for (let start = 0; ; start += pageSize) {
      const page = await this.run(() => this.redis.lrange(this.skippedKey(id), start, start + pageSize - 1));
      if (page.length > 0) yield page;
      if (page.length < pageSize) return;
    }
  }

  /** The recorded line of an outcome whose object is not stored yet, or undefined. */
  async pendingLine(id: string, jobId: string): Promise<string | undefined> {
    const value = await this.run(() => this.redis.hget(this.pendingKey(id), jobId));
    return value === null ? undefined : value.slice(value.indexOf('\n') + 1);
  }

  /** The result object of this outcome is stored: nothing waits for it any more. */
  async resultStored(id: string, jobId: string): Promise<void> {
    await this.run(() => this.redis.hdel(this.pendingKey(id), jobId));
  }

  /** Outcomes whose object is not stored yet, a page at a time: [job id, result line JSON]. */
  async *pendingLines(id: string, pageSize = 200): AsyncGenerator<[string, string][]> {
    let cursor = '0';
    do {
      const [next, flat] = await this.run(() => this.redis.hscan(this.pendingKey(id), cursor, 'COUNT', pageSize));
      cursor = next;
      const page: [string, string][] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) page.push([flat[i]!, flat[i + 1]!.slice(flat[i + 1]!.indexOf('\n') + 1)]);
      if (page.length > 0) yield page;
    } while (cursor !== '0');
  }

  /** Every recorded outcome, a page at a time (HSCAN: memory stays flat however large the batch). */
  async *outcomes(id: string, pageSize = 500): AsyncGenerator<(RecordedOutcome & { jobId: string })[]> {
    let cursor = '0';
    do {
      const [next, flat] = await this.run(() => this.redis.hscan(this.doneKey(id), cursor, 'COUNT', pageSize));
      cursor = next;
      const page = [];
      for (let i = 0; i + 1 < flat.length; i += 2) page.push({ jobId: flat[i]!, ...parseOutcome(flat[i + 1]!) });
      if (page.length > 0) yield page;
    } while (cursor !== '0');
  }

  /**
   * The batch's state and how many of its listed inputs wait in the queue (enqueued, no outcome
   * yet): what the lister's backpressure (LISTING_AHEAD) reads, one HMGET.
   */
  async waitingInputs(id: string): Promise<{ state: BatchState | undefined; waiting: number }> {
    const [state, total, completed, failed] = await this.run(() => this.redis.hmget(this.batchKey(id), 'state', 'total', 'completed', 'failed'));
    return { state: (state ?? undefined) as BatchState | undefined, waiting: Math.max(toNumber(total ?? undefined) - toNumber(completed ?? undefined) - toNumber(failed ?? undefined), 0) };
  }

  /** Which of these job ids already have an outcome (so a resumed listing does not redo them). */
  async finishedJobIds(id: string, jobIds: string[]): Promise<Set<string>> {
    if (jobIds.length === 0) return new Set();
    const values = await this.run(() => this.redis.hmget(this.doneKey(id), ...jobIds));
    return new Set(jobIds.filter((_, index) => values[index] !== null));
  }

  async outcome(id: string, jobId: string): Promise<RecordedOutcome | undefined> {
    const value = await this.run(() => this.redis.hget(this.doneKey(id), jobId));
    return value === null ? undefined : parseOutcome(value);
  }

  /**
   * Moves a running batch to its final state and starts the TTL of its records, only once every
   * input has an outcome and every result object is stored.
   */
  async markFinished(id: string, state: 'completed' | 'completed_with_errors', now = new Date(), options: { webhook?: boolean } = {}): Promise<FinishResult> {
    const result = await this.run(() =>
      this.scripts.markFinished(
        [this.batchKey(id), this.doneKey(id), this.pendingKey(id), this.indexKey, this.skippedKey(id), this.queuedKey(id)],
        [id, state, now.toISOString(), this.ttlSeconds, options.webhook ? 'pending' : ''],
      ),
    );
    return result === 1 ? 'finished' : result === -1 ? 'pending_results' : result === -2 ? 'incomplete' : 'not_running';
  }

  /** 'cancelled' on success (listing, running or paused), 'finished' if it already ended, 'missing' if unknown. */
  async cancel(id: string, now = new Date()): Promise<'cancelled' | 'finished' | 'missing'> {
    const result = await this.run(() =>
      this.scripts.cancel([this.batchKey(id), this.doneKey(id), this.pendingKey(id), this.indexKey, this.skippedKey(id), this.queuedKey(id)], [id, now.toISOString(), this.ttlSeconds]),
    );
    return result === 1 ? 'cancelled' : result === 0 ? 'finished' : 'missing';
  }

  /** Pauses a listing or running batch (state paused, pausedFrom remembered); its jobs are the caller's to hold back. */
  async pause(id: string, now = Date.now()): Promise<PauseResult> {
    const result = await this.run(() => this.scripts.pause([this.batchKey(id)], [now]));
    return result === 1 ? 'paused' : result === 0 ? 'wrong_state' : 'missing';
  }

  /** Restores a paused batch's state; the caller enqueues its held jobs again (and finalizes on resumed_complete). */
  async resume(id: string): Promise<ResumeResult> {
    const result = await this.run(() => this.scripts.resume([this.batchKey(id)], []));
    return result === 1 ? 'resumed' : result === 2 ? 'resumed_complete' : result === 0 ? 'wrong_state' : 'missing';
  }

  /**
   * Takes these inputs' failed (or unstorable) outcomes back and moves the batch from
   * completed_with_errors to running, with them in its queued-jobs index (one Lua step); the
   * caller enqueues them. How many were taken, or undefined when the batch is in another state.
   */
  async reopenFailed(id: string, createdAt: string, inputs: { jobId: string; data: string }[]): Promise<number | undefined> {
    const pairs = inputs.flatMap((input) => [input.jobId, input.data]);
    const keys = [this.batchKey(id), this.doneKey(id), this.queuedKey(id), this.indexKey, this.skippedKey(id)];
    const result = (await this.run(() => this.scripts.retry(keys, [id, Date.parse(createdAt), ...pairs]))) as number;
    return result < 0 ? undefined : result;
  }

  /** Notes on the batch hash for its status (what it waits for); only while it is unfinished. */
  async note(id: string, fields: { listError?: string | null; roomWaitSince?: number | null; finalizeLines?: number | null; finalizeError?: string | null; storageWaitAt?: number; storageError?: string; resultWriteFailingSince?: number | null; webhookState?: string }): Promise<void> {
    const set: (string | number)[] = [];
    const unset: string[] = [];
    for (const [field, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      if (value === null) unset.push(field);
      else set.push(field, typeof value === 'string' ? value.slice(0, 500) : value);
    }
    await this.run(() => this.scripts.note([this.batchKey(id)], [set.length / 2, ...set, ...unset]));
  }

  /** One lister per batch across producers; the lock expires if its holder dies. */
  async acquireListerLock(id: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.run(() => this.listerLock(id).acquire(owner, ttlMs));
  }

  async renewListerLock(id: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.run(() => this.listerLock(id).renew(owner, ttlMs));
  }

  async releaseListerLock(id: string, owner: string): Promise<void> {
    await this.run(() => this.listerLock(id).release(owner));
  }

  /** A lock for one role across producers (e.g. the reconciler's leader). */
  roleLock(role: string): RedisLock {
    return new RedisLock(this.redis, this.scripts, `${this.prefix}:role:${role}`);
  }

  /** Ids of unfinished batches (the index holds nothing else), oldest first. */
  async unfinishedIds(limit = 10_000): Promise<string[]> {
    return this.run(() => this.redis.zrange(this.indexKey, '0', String(limit - 1)));
  }

  /** Counters and lister presence of these batches, in one round trip. */
  async snapshots(ids: string[]): Promise<BatchSnapshot[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) {
      pipeline.hmget(this.batchKey(id), 'state', 'total', 'completed', 'failed');
      pipeline.exists(this.listerLock(id).key);
    }
    const replies = (await this.run(() => pipeline.exec())) ?? [];
    return ids.map((id, index) => {
      const [state, total, completed, failed] = (replies[index * 2]?.[1] ?? []) as (string | null)[];
      return {
        id,
        state: (state ?? undefined) as BatchState | undefined,
        total: toNumber(total ?? undefined),
        done: toNumber(completed ?? undefined) + toNumber(failed ?? undefined),
        listerActive: replies[index * 2 + 1]?.[1] === 1,
      };
    });
  }

  /** Removes an id from the index when its batch is gone (expired or never completed). */
  async unindex(id: string): Promise<void> {
    await this.run(() => this.redis.zrem(this.indexKey, id));
  }

  /** Unfinished batches, newest first, that are in one of `states`. */
  private async unfinished(states: BatchState[], limit: number): Promise<string[]> {
    const ids = (await this.unfinishedIds()).reverse();
    const snapshots = await this.snapshots(ids);
    return snapshots.filter((snapshot) => snapshot.state !== undefined && states.includes(snapshot.state)).map((snapshot) => snapshot.id).slice(0, limit);
  }

  /** Ids of batches still listing (to resume after a producer restart). */
  async listingBatchIds(limit = 1000): Promise<string[]> {
    return this.unfinished(['listing'], limit);
  }

  /** Batches still listing, running or paused, newest first, at most `limit`. */
  async activeBatches(limit = 20): Promise<BatchRecord[]> {
    const records = await Promise.all((await this.unfinished(['listing', 'running', 'paused'], limit)).map((id) => this.get(id)));
    return records.filter((record): record is BatchRecord => record !== undefined);
  }
}
