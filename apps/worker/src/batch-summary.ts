import type { BatchSummary, ResultLine } from '@imagefleet/core';
import { toBatchStatus, type BatchRecord, type RecordedOutcome } from '@imagefleet/jobs';
import { resultLayout, withStorageRetries, type BlobStore } from '@imagefleet/storage';

/** Failed inputs per error code, counted from their manifest lines as finalize writes them. */
export class FailureTally {
  readonly byCode: Record<string, number> = {};

  /** A document's joined line is not counted: its pages are inputs, it is not. */
  add(outcome: RecordedOutcome, line: string): void {
    if (outcome.status === 'ok' || outcome.status === 'document') return;
    const code = (JSON.parse(line) as ResultLine).error?.code ?? 'internal';
    this.byCode[code] = (this.byCode[code] ?? 0) + 1;
  }
}

/** The summary of a batch finishing now: its counters as its status gives them (hit rate included), and its failures by code. */
export function batchSummary(record: BatchRecord, state: BatchSummary['state'], finishedAt: Date, failures: Record<string, number>): BatchSummary {
  const status = toBatchStatus({ ...record, state, finishedAt: finishedAt.toISOString() });
  return {
    batchId: record.id,
    task: record.task,
    ...(record.model === undefined ? {} : { model: record.model }),
    state,
    total: status.total,
    completed: status.completed,
    failed: status.failed,
    skipped: status.skipped,
    documents: status.documents ?? 0,
    pages: status.pages ?? 0,
    cached: status.cached ?? 0,
    cacheHitRate: status.cacheHitRate ?? 0,
    failures: Object.fromEntries(Object.entries(failures).sort(([a], [b]) => a.localeCompare(b))),
    skippedReasons: status.skippedReasons ?? {},
    createdAt: status.createdAt,
    finishedAt: finishedAt.toISOString(),
  };
}

/** One PUT (whole or not at all, like the manifest), retried on transient storage errors. */
export async function writeSummary(store: BlobStore, summary: BatchSummary): Promise<void> {
  await withStorageRetries(() => store.put(resultLayout.summaryKey(summary.batchId), `${JSON.stringify(summary, null, 2)}\n`, { contentType: 'application/json' }));
}
