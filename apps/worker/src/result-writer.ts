import type { Logger, ResultLine } from '@imagefleet/core';
import type { Claim } from '@imagefleet/jobs';
import { resultLayout } from '@imagefleet/storage';
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
 * Records an input's outcome, then its result object. The outcome is claimed first (Lua, first
 * writer wins, with the attempt's token); only the winner writes its own line. Any later attempt
 * writes nothing of its own: at most it stores the recorded line if that is still waiting. When
 * the store fails, the recorded line waits in Redis and finalize stores it, so a storage outage
 * never leaves an input without an outcome. The input that completes the batch triggers finalize.
 */
export async function recordResult(deps: WorkerDeps, input: InputRef, line: ResultLine, log: Logger): Promise<Claim> {
  const claim = await deps.batches.claimOutcome(input.batchId, input.jobId, line, input.token);
  await storeRecordedResult(deps, input, claim.mine ? JSON.stringify(line) : undefined, log);
  if (claim.complete) await deps.jobs.ensureFinalize(input.batchId);
  return claim;
}

/**
 * Writes the recorded line of an input to its result object and clears it from the pending hash.
 * `ownLine`: the caller's line when its claim won; else the recorded line is read from Redis
 * (nothing to do once it is stored). Never throws: what is not stored now, finalize stores.
 */
export async function storeRecordedResult(deps: WorkerDeps, input: InputRef, ownLine: string | undefined, log: Logger): Promise<void> {
  try {
    const text = ownLine ?? (await deps.batches.pendingLine(input.batchId, input.jobId));
    if (text === undefined) return;
    const { key } = JSON.parse(text) as ResultLine;
    await deps.stores.open(input.results).put(resultLayout.resultKey(input.batchId, key), text, { contentType: 'application/json' });
    await deps.batches.resultStored(input.batchId, input.jobId);
  } catch (error) {
    log.warn({ err: error, jobId: input.jobId }, 'result object not stored now; finalize stores it');
  }
}
