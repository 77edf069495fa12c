import { ImagefleetError, pageKey, type ImageJobData, type Logger } from '@imagefleet/core';
import { inspectDocument } from '@imagefleet/imaging';
import { batchRoute, batchShare, inputJobSpec, type ImageJobSpec, type WorkJob } from '@imagefleet/jobs';
import { getTask } from '@imagefleet/tasks';
import type { WorkerDeps } from './deps.js';

/**
 * The page jobs of a document: one per page, each naming its batch, the document and its page.
 * Ids come from batch + `<key>#page=<n>`, so enqueueing them again adds nothing.
 */
export function pageJobSpecs(data: ImageJobData, pages: number): ImageJobSpec[] {
  const batch = { id: data.batchId, task: data.task, sourceStore: data.source.store, resultsUrl: data.results };
  return Array.from({ length: pages }, (_, index) => inputJobSpec(batch, pageKey(data.source.key, index + 1)));
}

/** Through the same call the lister uses: the batch's queue (its model's), index and fair share. */
async function enqueuePageJobs(deps: WorkerDeps, data: ImageJobData, pages: number): Promise<void> {
  const batch = await deps.batches.get(data.batchId);
  if (!batch) throw new ImagefleetError('invalid_job', `Batch ${data.batchId} is gone; its document's pages are not enqueued`);
  const route = batchRoute(batch, getTask(data.task)?.kind ?? 'pixels');
  await deps.jobs.enqueueImages(route, batchShare(batch), pageJobSpecs(data, pages));
}

/**
 * A listed input whose bytes turn out to be a document (a PDF, or a TIFF, GIF or WebP of several
 * pages) is split here: the batch records the split first (its total grows by pages - 1, in one
 * Lua step), then the page jobs are enqueued. In that order a crash in between loses nothing: the
 * job runs again, finds the split recorded and enqueues the same pages (see resumeSplit); the
 * other order could let pages finish, and the batch complete, before its total grew.
 * Returns false for an image (the caller analyses it); a document over MAX_PAGES, encrypted,
 * unreadable or empty throws its code and gets one failed outcome, with no page job.
 */
export async function splitIfDocument(deps: WorkerDeps, job: WorkJob<ImageJobData>, bytes: Buffer, log: Logger): Promise<boolean> {
  const document = await inspectDocument(bytes);
  if (!document) return false;
  const { maxPages } = deps.config;
  if (document.pages > maxPages) {
    throw new ImagefleetError('too_many_pages', `The document has ${document.pages} pages, over the limit of ${maxPages} (MAX_PAGES)`, { detail: { pages: document.pages } });
  }
  const { batchId, source } = job.data;
  const pages = await deps.batches.expandDocument(batchId, job.id, source.key, document.pages);
  if (pages > 0) await enqueuePageJobs(deps, job.data, pages);
  log.info({ key: source.key, format: document.format, pages: document.pages, enqueued: Math.max(pages, 0) }, 'document split into pages');
  return true;
}

/**
 * A job run again after its input's outcome was recorded: if that outcome is a split, enqueue the
 * pages again (the run that split it may have died before enqueueing them). True when it was a split.
 */
export async function resumeSplit(deps: WorkerDeps, job: WorkJob<ImageJobData>, log: Logger): Promise<boolean> {
  if (job.data.page !== undefined) return false;
  const outcome = await deps.batches.outcome(job.data.batchId, job.id);
  if (outcome?.status !== 'document' || !outcome.pages) return false;
  await enqueuePageJobs(deps, job.data, outcome.pages);
  log.info({ key: job.data.source.key, pages: outcome.pages }, 'document already split; its page jobs enqueued again');
  return true;
}
