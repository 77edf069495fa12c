import { Readable } from 'node:stream';
import { ImagefleetError, type ResultLine } from '@imagefleet/core';
import type { BatchRecord, OutcomeStatus } from '@imagefleet/jobs';
import { mapOrdered, resultLayout, withStorageRetries, type BlobStore } from '@imagefleet/storage';
import type { WorkerDeps } from './deps.js';

const CONCURRENCY = 16;
const MAX_RESULT_BYTES = 64 * 1024 * 1024;

async function* once<T>(items: T[]): AsyncGenerator<T[]> {
  yield items;
}

/**
 * Stores the result objects of outcomes recorded while the store was failing (or whose worker died
 * between recording and storing), each with retries. Resumable: each is cleared once stored.
 */
export async function storePendingResults(deps: WorkerDeps, batch: BatchRecord, store: BlobStore): Promise<number> {
  let stored = 0;
  for await (const page of deps.batches.pendingLines(batch.id)) {
    const writes = mapOrdered(once(page), CONCURRENCY, async ([jobId, text]) => {
      const { key } = JSON.parse(text) as ResultLine;
      await withStorageRetries(() => store.put(resultLayout.resultKey(batch.id, key), text, { contentType: 'application/json' }));
      await deps.batches.resultStored(batch.id, jobId);
    });
    for await (const _ of writes) stored++;
  }
  return stored;
}

/** The manifest line of one recorded outcome: its result object, each GET retried. */
async function lineOf(store: BlobStore, batchId: string, outcome: { status: OutcomeStatus; key: string }): Promise<string> {
  try {
    const body = await withStorageRetries(() => store.get(resultLayout.resultKey(batchId, outcome.key), { maxBytes: MAX_RESULT_BYTES }));
    return `${body.toString('utf8').trim()}\n`;
  } catch (error) {
    if (!(error instanceof ImagefleetError) || error.code !== 'not_found') throw error;
    // Recorded, yet its object is gone (deleted by hand): the line still says what was recorded.
    return `${JSON.stringify({ key: outcome.key, status: outcome.status, error: { code: 'internal', message: 'the result object is missing from the store' } })}\n`;
  }
}

/**
 * Writes manifest.jsonl: one line per recorded outcome (read from Redis, a page at a time, so
 * memory stays flat), each with its result object. Written as one object (a temporary file or a
 * multipart upload completed at the end): complete or not at all. Reports progress on the batch.
 */
export async function writeManifest(deps: WorkerDeps, batch: BatchRecord, store: BlobStore): Promise<number> {
  let lines = 0;
  async function* manifestLines(): AsyncGenerator<string> {
    for await (const page of deps.batches.outcomes(batch.id)) {
      for await (const line of mapOrdered(once(page), CONCURRENCY, (outcome) => lineOf(store, batch.id, outcome))) yield line;
      lines += page.length;
      await deps.batches.note(batch.id, { finalizeLines: lines });
    }
  }
  await store.putStream(resultLayout.manifestKey(batch.id), Readable.from(manifestLines()), { contentType: 'application/x-ndjson' });
  return lines;
}
