import { randomUUID } from 'node:crypto';
import type { SkipReason } from '@imagefleet/core';
import { batchShare, inputJobSpec, type BatchRecord, type JobRoute, type RecordPageResult } from '@imagefleet/jobs';
import type { BlobInfo } from '@imagefleet/storage';
import type { ProducerDeps } from './deps.js';
import { routeOf } from './batch-jobs.js';
import { ListingRoom } from './listing-room.js';
import { skipReasonOf } from './source.js';

interface KeyPage {
  inputs: Pick<BlobInfo, 'key' | 'skip'>[];
  /** The cursor this page was listed after ('' or undefined = the start). */
  after: string | undefined;
  /** Resume point once the first `count` inputs of this page are recorded. */
  cursorAt(count: number): string;
}

/** A listed input and, when it is not enqueued, why. */
interface ListedInput {
  key: string;
  skip: SkipReason | undefined;
}

const PAGE_SIZE = 1000;
const PAGE_ATTEMPTS = 5;

/**
 * Lists a batch's source page by page and enqueues each page with one addBulk. Memory does not
 * grow with the source: one page at a time. Progress (counters + cursor) is saved per chunk, so a
 * listing whose producer died is resumed by the next one (the reconciler starts it once the
 * lister lock, LISTER_LOCK_MS, expires) without double counting: job ids are derived from batch +
 * key, keys that already have an outcome are not enqueued again, and a chunk is only counted if
 * the cursor is still where it was read from.
 *
 * Backpressure: at most LISTING_AHEAD inputs of a batch wait in the queue; a page is enqueued in
 * chunks that fit (ListingRoom), and the listing pauses while there is no room. A paused lister
 * keeps its lock (renewed by the heartbeat) and its place in the source listing, so one producer
 * lists each batch throughout and continuing costs no re-listing; if it dies, the lock expires and
 * the reconciler resumes from the saved cursor, as for any listing. A batch paused by an operator
 * (state paused) stops its lister at the next chunk or poll, which releases the lock; resume
 * starts a lister again from the saved cursor.
 */
export class BatchLister {
  private readonly running = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(private readonly deps: ProducerDeps) {}

  /** Starts listing in the background unless this process or another producer already is. */
  start(batchId: string): void {
    if (this.stopping || this.running.has(batchId)) return;
    const run = this.list(batchId)
      .catch((error: unknown) => this.deps.logger.error({ batchId, err: error }, 'listing failed; the reconciler resumes it'))
      .finally(() => this.running.delete(batchId));
    this.running.set(batchId, run);
  }

  /** Whether this process is listing the batch now. */
  isListing(batchId: string): boolean {
    return this.running.has(batchId);
  }

  /** Resumes every batch left in 'listing' (e.g. after a producer restart); the reconciler keeps doing it. */
  async resumeAll(): Promise<void> {
    for (const batchId of await this.deps.background.batches.listingBatchIds()) this.start(batchId);
  }

  /** Waits for background listings (tests). A listing paused for room waits for its inputs to finish. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }

  /**
   * Shutdown: listings stop at their next chunk or pause and release their locks (another
   * producer's reconciler resumes them from the saved cursor); resolves once they have.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.idle();
  }

  private async list(batchId: string): Promise<void> {
    const { batches, jobs } = this.deps.background;
    const ttlMs = this.deps.config.listerLockMs;
    const lock = batches.listerLock(batchId);
    const owner = randomUUID();
    if (!(await lock.acquire(owner, ttlMs))) return;
    // Renewed on a timer, not only per page: a slow page must not let another producer take over.
    let lost = false;
    const heartbeat = setInterval(() => {
      lock.renew(owner, ttlMs).then(
        (held) => {
          if (!held) lost = true;
        },
        () => undefined,
      );
    }, Math.max(Math.floor(ttlMs / 3), 100));
    heartbeat.unref();
    const log = this.deps.logger.child({ batchId });
    try {
      const batch = await batches.get(batchId);
      if (!batch || batch.state !== 'listing') return;
      log.info({ task: batch.task, model: batch.model, store: batch.sourceStore, resumeAfter: batch.cursor }, 'listing started');
      const route = routeOf(batch);
      // Uploads were sniffed when they arrived: their name is whatever the client sent.
      const checkName = !('upload' in batch.source);
      await batches.note(batchId, { roomWaitSince: null });
      const room = new ListingRoom(batches, batchId, this.deps.config.listingAhead, log);
      const stopped = () => lost || this.stopping;
      let enqueued = 0;
      for await (const page of this.pages(batch)) {
        const inputs: ListedInput[] = page.inputs.map((input) => ({ key: input.key, skip: skipReasonOf(input, checkName) }));
        let after = page.after;
        for (let start = 0; start < inputs.length; ) {
          if (lost) throw new Error('lost the lister lock');
          const images = inputs.slice(start).filter((input) => !input.skip).length;
          const allowed = images === 0 ? 0 : await room.take(images, stopped);
          if (allowed === undefined) {
            if (lost) throw new Error('lost the lister lock');
            log.info(this.stopping ? 'listing stopped: the producer is shutting down' : 'listing stopped: batch no longer listing');
            return;
          }
          const end = chunkEnd(inputs, start, allowed);
          const cursor = page.cursorAt(end);
          const recorded = await this.enqueueChunk(batch, route, inputs.slice(start, end), after, cursor);
          if (recorded !== 'recorded') {
            log.info({ recorded }, recorded === 'cursor_moved' ? 'listing stopped: another lister got ahead' : 'listing stopped: batch no longer listing');
            return;
          }
          enqueued += inputs.slice(start, end).filter((input) => !input.skip).length;
          after = cursor;
          start = end;
        }
      }
      if (await batches.finishListing(batchId)) await jobs.ensureFinalize(batchId);
      await batches.note(batchId, { listError: null });
      log.info({ enqueued }, 'listing finished');
    } catch (error) {
      await batches.note(batchId, { listError: (error as Error).message ?? String(error) }).catch(() => undefined);
      throw error;
    } finally {
      clearInterval(heartbeat);
      await lock.release(owner).catch(() => undefined);
    }
  }

  /** Enqueues one chunk (inputs with an outcome excepted) with one addBulk, then records it and moves the cursor. */
  private async enqueueChunk(batch: BatchRecord, route: JobRoute, inputs: ListedInput[], after: string | undefined, cursor: string): Promise<RecordPageResult> {
    const { batches, jobs } = this.deps.background;
    const images = inputs.filter((input) => !input.skip).map((input) => input.key);
    const skippedInputs = inputs.flatMap((input) => (input.skip ? [{ key: input.key, reason: input.skip }] : []));
    const specs = images.map((key) => inputJobSpec(batch, key));
    const finished = await batches.finishedJobIds(batch.id, specs.map((spec) => spec.jobId));
    await jobs.enqueueImages(route, batchShare(batch), specs.filter((spec) => !finished.has(spec.jobId)));
    return batches.recordPage(batch.id, { enqueued: images.length, skipped: skippedInputs.length, skippedInputs, after, cursor });
  }

  /** Pages of source keys after the batch's cursor, retrying transient listing errors. */
  private async *pages(batch: BatchRecord): AsyncGenerator<KeyPage> {
    const { source } = batch;
    if ('keys' in source || 'upload' in source) {
      const keys = 'keys' in source ? source.keys : [source.upload.key];
      let after = batch.cursor;
      for (let start = after ? Number(after) : 0; start < keys.length; start += PAGE_SIZE) {
        const first = start;
        yield { inputs: keys.slice(start, start + PAGE_SIZE).map((key) => ({ key })), after, cursorAt: (count) => String(first + count) };
        after = String(start + PAGE_SIZE);
      }
      return;
    }
    const prefix = 's3' in source ? source.s3.prefix : '';
    const store = this.deps.stores.open(batch.sourceStore);
    let cursor = batch.cursor;
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const page of store.list(prefix, { startAfter: cursor, pageSize: PAGE_SIZE })) {
          yield { inputs: page, after: cursor, cursorAt: (count) => page[count - 1]!.key };
          cursor = page[page.length - 1]!.key;
          attempt = 1;
        }
        return;
      } catch (error) {
        if (attempt >= PAGE_ATTEMPTS) throw error;
        this.deps.logger.warn({ batchId: batch.id, attempt, err: error }, 'listing page failed, retrying');
        await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      }
    }
  }
}

/**
 * Where a chunk that starts at `start` ends: it holds at most `allowed` inputs to enqueue, and the
 * skipped inputs among and right after them (they take no room).
 */
function chunkEnd(inputs: ListedInput[], start: number, allowed: number): number {
  let end = start;
  for (let images = 0; end < inputs.length && (inputs[end]!.skip !== undefined || images < allowed); end++) {
    if (inputs[end]!.skip === undefined) images++;
  }
  return end;
}
