import { randomUUID } from 'node:crypto';
import { deriveJobId, type ImageJobData } from '@imagefleet/core';
import { enqueueFinalize, type BatchRecord } from '@imagefleet/jobs';
import type { ProducerDeps } from './deps.js';
import { looksLikeImage } from './source.js';
import { getTask } from '@imagefleet/tasks';

interface KeyPage {
  keys: string[];
  /** Resume point once this page is recorded. */
  cursor: string;
}

const LOCK_TTL_MS = 60_000;
const PAGE_SIZE = 1000;
const PAGE_ATTEMPTS = 5;

/**
 * Lists a batch's source page by page and enqueues each page with one addBulk. Memory does not
 * grow with the source: one page at a time. Progress (counters + cursor) is saved per page, so a
 * producer that dies mid-listing is resumed by the next one without double counting: job ids are
 * derived from batch + key, and keys that already have an outcome are not enqueued again.
 */
export class BatchLister {
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly deps: ProducerDeps) {}

  /** Starts listing in the background unless this process or another producer already is. */
  start(batchId: string): void {
    if (this.running.has(batchId)) return;
    const run = this.list(batchId)
      .catch((error: unknown) => this.deps.logger.error({ batchId, err: (error as Error).message }, 'listing failed; re-post the batch to resume'))
      .finally(() => this.running.delete(batchId));
    this.running.set(batchId, run);
  }

  /** Resumes every batch left in 'listing' (e.g. after a producer restart). */
  async resumeAll(): Promise<void> {
    for (const batchId of await this.deps.batches.listingBatchIds()) this.start(batchId);
  }

  /** Waits for background listings (shutdown, tests). */
  async idle(): Promise<void> {
    await Promise.all(this.running.values());
  }

  private async list(batchId: string): Promise<void> {
    const { batches, queues, logger } = this.deps;
    const owner = randomUUID();
    if (!(await batches.acquireListerLock(batchId, owner, LOCK_TTL_MS))) return;
    try {
      const batch = await batches.get(batchId);
      if (!batch || batch.state !== 'listing') return;
      const log = logger.child({ batchId });
      log.info({ task: batch.task, store: batch.sourceStore, resumeAfter: batch.cursor }, 'listing started');
      const queue = queues.forKind(getTask(batch.task)?.kind ?? 'pixels');
      let enqueued = 0;
      for await (const page of this.pages(batch)) {
        if (!(await batches.renewListerLock(batchId, owner, LOCK_TTL_MS))) throw new Error('lost the lister lock');
        const images = page.keys.filter(looksLikeImage);
        const jobs = images.map((key) => ({
          name: batch.task,
          data: {
            batchId,
            task: batch.task,
            source: { store: batch.sourceStore, key },
            results: batch.resultsUrl,
            options: batch.options,
          } satisfies ImageJobData,
          opts: { jobId: deriveJobId(batchId, key) },
        }));
        const finished = await batches.finishedJobIds(batchId, jobs.map((job) => job.opts.jobId));
        await queue.addBulk(jobs.filter((job) => !finished.has(job.opts.jobId)));
        const recorded = await batches.recordPage(batchId, { enqueued: images.length, skipped: page.keys.length - images.length, cursor: page.cursor });
        if (!recorded) {
          log.info('listing stopped: batch cancelled');
          return;
        }
        enqueued += images.length;
      }
      if (await batches.finishListing(batchId)) await enqueueFinalize(queues, batchId);
      log.info({ enqueued }, 'listing finished');
    } finally {
      await batches.releaseListerLock(batchId, owner);
    }
  }

  /** Pages of source keys after the batch's cursor, retrying transient listing errors. */
  private async *pages(batch: BatchRecord): AsyncGenerator<KeyPage> {
    const { source } = batch;
    if ('keys' in source || 'upload' in source) {
      const keys = 'keys' in source ? source.keys : [source.upload.key];
      for (let start = batch.cursor ? Number(batch.cursor) : 0; start < keys.length; start += PAGE_SIZE) {
        yield { keys: keys.slice(start, start + PAGE_SIZE), cursor: String(start + PAGE_SIZE) };
      }
      return;
    }
    const prefix = 's3' in source ? source.s3.prefix : '';
    const store = this.deps.stores.open(batch.sourceStore);
    let cursor = batch.cursor;
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const page of store.list(prefix, { startAfter: cursor, pageSize: PAGE_SIZE })) {
          const keys = page.map((info) => info.key);
          yield { keys, cursor: keys[keys.length - 1]! };
          cursor = keys[keys.length - 1];
          attempt = 1;
        }
        return;
      } catch (error) {
        if (attempt >= PAGE_ATTEMPTS) throw error;
        this.deps.logger.warn({ batchId: batch.id, attempt, err: (error as Error).message }, 'listing page failed, retrying');
        await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      }
    }
  }
}
