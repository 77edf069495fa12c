import { randomUUID } from 'node:crypto';
import { deriveJobId, type ImageJobData, type SkipReason } from '@imagefleet/core';
import type { BatchRecord, ImageJobSpec } from '@imagefleet/jobs';
import type { BlobInfo } from '@imagefleet/storage';
import { getTask } from '@imagefleet/tasks';
import type { ProducerDeps } from './deps.js';
import { skipReasonOf } from './source.js';

interface KeyPage {
  inputs: Pick<BlobInfo, 'key' | 'skip'>[];
  /** The cursor this page was listed after ('' or undefined = the start). */
  after: string | undefined;
  /** Resume point once this page is recorded. */
  cursor: string;
}

const PAGE_SIZE = 1000;
const PAGE_ATTEMPTS = 5;

/**
 * Lists a batch's source page by page and enqueues each page with one addBulk. Memory does not
 * grow with the source: one page at a time. Progress (counters + cursor) is saved per page, so a
 * listing whose producer died is resumed by the next one (the reconciler starts it once the
 * lister lock, LISTER_LOCK_MS, expires) without double counting: job ids are derived from batch +
 * key, keys that already have an outcome are not enqueued again, and a page is only counted if
 * the cursor is still where it was read from.
 */
export class BatchLister {
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly deps: ProducerDeps) {}

  /** Starts listing in the background unless this process or another producer already is. */
  start(batchId: string): void {
    if (this.running.has(batchId)) return;
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

  /** Waits for background listings (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
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
      log.info({ task: batch.task, store: batch.sourceStore, resumeAfter: batch.cursor }, 'listing started');
      const kind = getTask(batch.task)?.kind ?? 'pixels';
      // Uploads were sniffed when they arrived: their name is whatever the client sent.
      const checkName = !('upload' in batch.source);
      let enqueued = 0;
      for await (const page of this.pages(batch)) {
        if (lost) throw new Error('lost the lister lock');
        const images: string[] = [];
        const skippedInputs: { key: string; reason: SkipReason }[] = [];
        for (const input of page.inputs) {
          const reason = skipReasonOf(input, checkName);
          if (reason) skippedInputs.push({ key: input.key, reason });
          else images.push(input.key);
        }
        // Options stay with the batch record (stored once); a job names its batch and its input.
        const specs: ImageJobSpec[] = images.map((key) => ({
          jobId: deriveJobId(batchId, key),
          name: batch.task,
          data: { batchId, task: batch.task, source: { store: batch.sourceStore, key }, results: batch.resultsUrl } satisfies ImageJobData,
        }));
        const finished = await batches.finishedJobIds(batchId, specs.map((spec) => spec.jobId));
        await jobs.enqueueImages(kind, specs.filter((spec) => !finished.has(spec.jobId)));
        const recorded = await batches.recordPage(batchId, { enqueued: images.length, skipped: skippedInputs.length, skippedInputs, after: page.after, cursor: page.cursor });
        if (recorded !== 'recorded') {
          log.info({ recorded }, recorded === 'cursor_moved' ? 'listing stopped: another lister got ahead' : 'listing stopped: batch no longer listing');
          return;
        }
        enqueued += images.length;
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

  /** Pages of source keys after the batch's cursor, retrying transient listing errors. */
  private async *pages(batch: BatchRecord): AsyncGenerator<KeyPage> {
    const { source } = batch;
    if ('keys' in source || 'upload' in source) {
      const keys = 'keys' in source ? source.keys : [source.upload.key];
      let after = batch.cursor;
      for (let start = after ? Number(after) : 0; start < keys.length; start += PAGE_SIZE) {
        const cursor = String(start + PAGE_SIZE);
        yield { inputs: keys.slice(start, start + PAGE_SIZE).map((key) => ({ key })), after, cursor };
        after = cursor;
      }
      return;
    }
    const prefix = 's3' in source ? source.s3.prefix : '';
    const store = this.deps.stores.open(batch.sourceStore);
    let cursor = batch.cursor;
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const page of store.list(prefix, { startAfter: cursor, pageSize: PAGE_SIZE })) {
          const last = page[page.length - 1]!.key;
          yield { inputs: page, after: cursor, cursor: last };
          cursor = last;
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
