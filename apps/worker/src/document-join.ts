import { ImagefleetError, pageKey, type ResultLine } from '@imagefleet/core';
import { unstorableLine } from '@imagefleet/jobs';
import { mapOrdered, resultLayout, withStorageRetries, type BlobStore } from '@imagefleet/storage';
import { getTask, type ModelTaskResult } from '@imagefleet/tasks';
import { putResultLine } from './result-writer.js';

const MAX_RESULT_BYTES = 64 * 1024 * 1024;
const PAGE_READS_IN_FLIGHT = 16;

/** One page's line in a document result: its page number and what its own result object holds. */
export type PageLine = ResultLine & { page: number };

/** What a document's result holds: its pages in order, and for `invoice` the joined invoice. */
export interface DocumentResult {
  document: { pages: number; failedPages: number[] };
  output?: Record<string, unknown>;
  warnings?: string[];
  pages: PageLine[];
}

const INVOICE_HEADER = ['vendor', 'invoiceNumber', 'issueDate', 'dueDate', 'currency'] as const;
const INVOICE_TOTALS = ['subtotal', 'tax', 'total'] as const;

const present = (value: unknown) => value !== undefined && value !== null && value !== '';

/**
 * One invoice from its pages' answers, in page order: header fields from the first page that has
 * them, totals from the last page that has them, line items of every page in order.
 */
export function joinInvoice(outputs: Record<string, unknown>[]): Record<string, unknown> {
  const joined: Record<string, unknown> = {};
  for (const field of INVOICE_HEADER) {
    const first = outputs.find((output) => present(output[field]));
    if (first) joined[field] = first[field];
  }
  for (const field of INVOICE_TOTALS) {
    const last = outputs.findLast((output) => present(output[field]));
    if (last) joined[field] = last[field];
  }
  joined.lineItems = outputs.flatMap((output) => (Array.isArray(output.lineItems) ? output.lineItems : []));
  return joined;
}

/**
 * A document's result line from its page lines (in page order): ok when every page is; else
 * failed with page_failed naming the pages, the pages that did finish still in the result.
 */
export function joinDocument(taskName: string, key: string, pages: PageLine[]): ResultLine {
  const failedPages = pages.filter((line) => line.status !== 'ok').map((line) => line.page);
  const result: DocumentResult = { document: { pages: pages.length, failedPages }, pages };
  if (taskName === 'invoice') {
    const outputs = pages.filter((line) => line.status === 'ok').map((line) => (line.result as ModelTaskResult).output);
    result.output = joinInvoice(outputs);
    // The invoice task's own checks (dates, sums), on the joined invoice.
    const task = getTask(taskName);
    result.warnings = task?.kind === 'model' ? task.warnings(result.output, {}) : [];
  }
  if (failedPages.length === 0) return { key, status: 'ok', result };
  const message = `${failedPages.length} of ${pages.length} pages failed (pages ${failedPages.join(', ')}); see result.pages`;
  return { key, status: 'failed', result, error: { code: 'page_failed', message, pages: failedPages } };
}

/** A page's stored result line; a page whose object the store refused (or lost) reads as failed. */
async function pageLine(store: BlobStore, batchId: string, key: string, page: number): Promise<PageLine> {
  const lineKey = pageKey(key, page);
  try {
    const body = await withStorageRetries(() => store.get(resultLayout.resultKey(batchId, lineKey), { maxBytes: MAX_RESULT_BYTES }));
    return { page, ...(JSON.parse(body.toString('utf8')) as ResultLine) };
  } catch (error) {
    if (!(error instanceof ImagefleetError) || error.code !== 'not_found') throw error;
    return { page, ...unstorableLine(lineKey) };
  }
}

/**
 * Joins a split document once every page has its outcome (finalize, before the manifest): reads
 * its pages' result objects, writes the document's own result object (`<key>`) and returns its
 * line. The join is a function of the stored page results alone, so a finalize run again writes
 * the same object: exactly once in effect, whatever crashes in between.
 */
export async function storeDocumentResult(store: BlobStore, batch: { id: string; task: string }, key: string, pages: number): Promise<string> {
  async function* pageNumbers() {
    yield Array.from({ length: pages }, (_, index) => index + 1);
  }
  const lines: PageLine[] = [];
  for await (const line of mapOrdered(pageNumbers(), PAGE_READS_IN_FLIGHT, (page) => pageLine(store, batch.id, key, page))) lines.push(line);
  const text = JSON.stringify(joinDocument(batch.task, key, lines));
  const { refused } = await withStorageRetries(() => putResultLine(store, batch.id, text));
  // A path the store refuses for good: the manifest says so; nothing is left waiting for it.
  return refused ? JSON.stringify(unstorableLine(key)) : text;
}
