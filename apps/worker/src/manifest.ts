import { Readable } from 'node:stream';
import { ImagefleetError, type Logger } from '@imagefleet/core';
import { unstorableLine, type BatchRecord, type RecordedOutcome } from '@imagefleet/jobs';
import { mapOrdered, resultLayout, withStorageRetries, type BlobStore } from '@imagefleet/storage';
import type { WorkerDeps } from './deps.js';
import { putResultLine } from './result-writer.js';
import { storeDocumentResult } from './document-join.js';
import { FailureTally } from './batch-summary.js';

const CONCURRENCY = 16;
const MAX_RESULT_BYTES = 64 * 1024 * 1024;

async function* once<T>(items: T[]): AsyncGenerator<T[]> {
  yield items;
}

/**
 * Stores the result objects of outcomes recorded while the store was failing (or whose worker died
 * between recording and storing), each with retries. Resumable: each is cleared once stored. One
 * the store refuses for good becomes a result_unstorable failure, and so does one whose writes kept
 * failing for STORAGE_OUTAGE_WINDOW_MS (e.g. a path s3rver cannot create): it never holds the batch back.
 */
export async function storePendingResults(deps: WorkerDeps, batch: BatchRecord, store: BlobStore, log: Logger, now = Date.now()): Promise<{ stored: number; unstorable: number }> {
  const since = batch.resultWriteFailingSince;
  const givingUp = since !== undefined && now - since >= deps.config.storageOutageWindowMs;
  const counts = { stored: 0, unstorable: 0 };
  try {
    for await (const page of deps.batches.pendingLines(batch.id)) {
      const writes = mapOrdered(once(page), CONCURRENCY, async ([jobId, text]) => {
        const { refused } = await withStorageRetries(() => putResultLine(store, batch.id, text)).catch((error: unknown) => {
          if (!givingUp) throw error;
          return { refused: error };
        });
        if (!refused) {
          await deps.batches.resultStored(batch.id, jobId);
          return 'stored' as const;
        }
        log.warn({ err: refused, jobId }, 'the results store refuses this result object; the input fails as result_unstorable');
        await deps.batches.markUnstorable(batch.id, jobId);
        return 'unstorable' as const;
      });
      for await (const outcome of writes) counts[outcome]++;
    }
  } catch (error) {
    if (since === undefined) await deps.batches.note(batch.id, { resultWriteFailingSince: now });
    throw error;
  }
  if (since !== undefined) await deps.batches.note(batch.id, { resultWriteFailingSince: null });
  return counts;
}

/** The manifest line of one recorded outcome: its result object, each GET retried; a split document's joined now. */
async function lineOf(store: BlobStore, batch: BatchRecord, outcome: RecordedOutcome): Promise<string> {
  const batchId = batch.id;
  if (outcome.status === 'unstorable') return `${JSON.stringify(unstorableLine(outcome.key))}\n`;
  if (outcome.status === 'document') return `${await storeDocumentResult(store, batch, outcome.key, outcome.pages ?? 0)}\n`;
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
 * memory stays flat), each with its result object, then the skipped inputs the batch kept
 * (`{"key","status":"skipped","reason"}`, at most SKIPPED_KEYS_KEPT; the status counts them all). Written as one object (a temporary file or a
 * multipart upload completed at the end): complete or not at all. Reports progress on the batch.
 * Returns the number of outcome lines and the failed inputs per error code.
 */
export async function writeManifest(deps: WorkerDeps, batch: BatchRecord, store: BlobStore): Promise<{ lines: number; failures: Record<string, number> }> {
  let lines = 0;
  const failures = new FailureTally();
  async function* manifestLines(): AsyncGenerator<string> {
    for await (const page of deps.batches.outcomes(batch.id)) {
      const written = mapOrdered(once(page), CONCURRENCY, async (outcome) => ({ outcome, line: await lineOf(store, batch, outcome) }));
      for await (const { outcome, line } of written) {
        failures.add(outcome, line);
        yield line;
      }
      lines += page.length;
      await deps.batches.note(batch.id, { finalizeLines: lines });
    }
    for await (const page of deps.batches.skippedLines(batch.id)) for (const line of page) yield `${line}\n`;
  }
  await store.putStream(resultLayout.manifestKey(batch.id), Readable.from(manifestLines()), { contentType: 'application/x-ndjson' });
  return { lines, failures: failures.byCode };
}
