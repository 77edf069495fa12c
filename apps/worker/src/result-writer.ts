import { ImagefleetError, type Logger, type ResultLine } from '@imagefleet/core';
import type { Claim } from '@imagefleet/jobs';
import { resultLayout, type BlobStore } from '@imagefleet/storage';
import type { WorkerDeps } from './deps.js';

/** Which input an outcome belongs to, and the attempt recording it. */
export interface InputRef {
  batchId: string;
  jobId: string;
  /** The batch's results store (s3://bucket/prefix or a directory). */
  results: string;
  /** Identifies the attempt: only the attempt whose outcome was recorded writes its own line. */
  token: string;
}

/**
 * stored: the result object is written; unstorable: the store refuses it for good, so the outcome
 * is now a result_unstorable failure; deferred: not stored now (finalize stores it); none: nothing to store.
 */
export type StoreOutcome = 'stored' | 'unstorable' | 'deferred' | 'none';

/** Store answers no retry changes: the key is refused (before any request, or by the store). */
const REFUSALS = new Set(['storage_refused', 'invalid_job']);

/**
 * Writes one recorded line to its result object. A refusal no retry changes (a key the store
 * refuses, a path taken by another input's result or by the manifest) is returned as 'refused'
 * with the Error; transient errors are thrown.
 */
export async function putResultLine(store: BlobStore, batchId: string, text: string): Promise<{ refused?: ImagefleetError }> {
  const { key } = JSON.parse(text) as ResultLine;
  if (resultLayout.takesManifestPath(key)) return { refused: new ImagefleetError('storage_refused', `the result path of ${JSON.stringify(key)} would take the manifest's path`) };
  try {
    await store.put(resultLayout.resultKey(batchId, key), text, { contentType: 'application/json' });
    return {};
  } catch (error) {
    // Anything else may pass: a missing bucket (404 on a PUT) or a 5xx is waited out by finalize.
    if (error instanceof ImagefleetError && REFUSALS.has(error.code)) return { refused: error };
    throw error;
  }
}

/**
 * Records an input's outcome, then its result object. The outcome is claimed first (Lua, first
 * writer wins, with the attempt's token); only the winner writes its own line. Any later attempt
 * writes nothing of its own: at most it stores the recorded line if that is still waiting. When
 * the store fails, the recorded line waits in Redis and finalize stores it, so a storage outage
 * never leaves an input without an outcome. The input that completes the batch triggers finalize.
 */
export async function recordResult(deps: WorkerDeps, input: InputRef, line: ResultLine, log: Logger): Promise<Claim & { stored: StoreOutcome }> {
  const claim = await deps.batches.claimOutcome(input.batchId, input.jobId, line, input.token);
  const stored = await storeRecordedResult(deps, input, claim.mine ? JSON.stringify(line) : undefined, log);
  if (claim.complete) await deps.jobs.ensureFinalize(input.batchId);
  return { ...claim, stored };
}

/**
 * Writes the recorded line of an input to its result object and clears it from the pending hash.
 * `ownLine`: the caller's line when its claim won; else the recorded line is read from Redis
 * (nothing to do once it is stored). Never throws: what is not stored now, finalize stores; what
 * the store refuses for good becomes a result_unstorable failure, so the batch still finishes.
 */
export async function storeRecordedResult(deps: WorkerDeps, input: InputRef, ownLine: string | undefined, log: Logger): Promise<StoreOutcome> {
  try {
    const text = ownLine ?? (await deps.batches.pendingLine(input.batchId, input.jobId));
    if (text === undefined) return 'none';
    const { refused } = await putResultLine(deps.stores.open(input.results), input.batchId, text);
    if (refused) {
      const marked = await deps.batches.markUnstorable(input.batchId, input.jobId);
      log.warn({ err: refused, jobId: input.jobId, marked }, 'the results store refuses this result object; the input fails as result_unstorable');
      return 'unstorable';
    }
    await deps.batches.resultStored(input.batchId, input.jobId);
    return 'stored';
  } catch (error) {
    log.warn({ err: error, jobId: input.jobId }, 'result object not stored now; finalize stores it');
    return 'deferred';
  }
}
