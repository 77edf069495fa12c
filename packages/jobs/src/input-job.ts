import { deriveJobId, splitPageKey, type ImageJobData } from '@imagefleet/core';
import type { BatchRecord } from './batch-record.js';
import type { ImageJobSpec } from './job-queues.js';

/**
 * The job of one input of a batch, by its result key: a listed input, or a document's page
 * (`<key>#page=<n>`). Options stay with the batch record (stored once); a job names its batch,
 * its source object and, for a page, the page. The id is derived from batch + result key, so the
 * same input always gets the same job id (the lister, a document split and a retry agree).
 */
export function inputJobSpec(batch: Pick<BatchRecord, 'id' | 'task' | 'sourceStore' | 'resultsUrl'>, resultKey: string): ImageJobSpec {
  const { key, page } = splitPageKey(resultKey);
  const data: ImageJobData = { batchId: batch.id, task: batch.task, source: { store: batch.sourceStore, key }, results: batch.resultsUrl };
  if (page !== undefined) data.page = page;
  return { jobId: deriveJobId(batch.id, resultKey), name: batch.task, data };
}
