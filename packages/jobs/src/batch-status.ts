import type { BatchStatus, BatchWait } from '@imagefleet/core';
import type { BatchRecord } from './batch-registry.js';

/** A storage error noted this recently still counts as inputs waiting for storage. */
export const STORAGE_WAIT_FRESH_MS = 60_000;

/** Status details quote storage errors: the endpoint they name (URL, address:port) is the server's business. */
export function redactEndpoints(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s)'"]+/g, '<endpoint>').replace(/\b(?:\d{1,3}\.){3}\d{1,3}:\d+\b|\[[0-9a-f:]+\]:\d+/gi, '<endpoint>');
}

/** The models live workers with an engine serve now (see servedModelIds); undefined: not known. */
export type ServedModels = readonly string[] | undefined;

/** A batch naming a model no live worker serves, with inputs left to process, waits for a worker of it. */
function workerWait(record: BatchRecord, served: ServedModels): { waitingFor: BatchWait; detail: string } | undefined {
  if (record.model === undefined || served === undefined || served.includes(record.model)) return undefined;
  if (record.state === 'running' && record.completed + record.failed >= record.total) return undefined;
  const now = served.length === 0 ? 'no worker with a model is live' : `the fleet serves ${served.join(', ')}`;
  return { waitingFor: 'worker', detail: `no live worker serves model ${record.model} (${now}); its inputs wait in that model's queue until a worker with MODEL_ID=${record.model} starts` };
}

/** What an unfinished batch waits for, and one line saying so; nulls when it is simply working. */
export function batchWait(record: BatchRecord, now = Date.now(), served?: ServedModels): { waitingFor: BatchWait | null; detail: string | null } {
  if (record.state === 'paused') return { waitingFor: 'paused', detail: pausedDetail(record) };
  if (record.state !== 'listing' && record.state !== 'running') return { waitingFor: null, detail: null };
  const noWorker = workerWait(record, served);
  if (noWorker) return noWorker;
  if (record.state === 'listing') {
    if (record.listerActive && record.roomWaitSince !== undefined) {
      const waiting = Math.max(record.total - record.completed - record.failed, 0);
      return { waitingFor: 'room', detail: `${waiting} listed inputs are waiting in the queue (the LISTING_AHEAD limit); listing continues as they finish` };
    }
    if (record.listerActive) return { waitingFor: null, detail: null };
    const why = record.listError ? `the last listing attempt failed (${redactEndpoints(record.listError)}); ` : '';
    return { waitingFor: 'lister', detail: `${why}no producer is listing the source right now; the reconciler resumes it once the lister lock is free` };
  }
  const done = record.completed + record.failed;
  if (done >= record.total) {
    if (record.finalizeError) return { waitingFor: 'finalizing', detail: `finalize failed (${redactEndpoints(record.finalizeError)}); it is retried` };
    const stored = record.pendingResults > 0 ? `${record.pendingResults} result objects still to store; ` : '';
    return { waitingFor: 'finalizing', detail: `${stored}manifest: ${record.finalizeLines ?? 0} of ${done} lines written` };
  }
  if (record.storageWaitAt !== undefined && now - record.storageWaitAt < STORAGE_WAIT_FRESH_MS) {
    return { waitingFor: 'storage', detail: `inputs are waiting for storage to recover: ${redactEndpoints(record.storageError ?? 'storage error')}` };
  }
  return { waitingFor: null, detail: null };
}

/** What a paused batch holds back, and how it continues. */
function pausedDetail(record: BatchRecord): string {
  const since = record.pausedAt === undefined ? '' : ` since ${new Date(record.pausedAt).toISOString()}`;
  const waiting = Math.max(record.total - record.completed - record.failed, 0);
  const listing = record.pausedFrom === 'listing' ? '; its listing stopped and continues from where it was' : '';
  return `paused by an operator${since} (was ${record.pausedFrom ?? 'running'}): ${waiting} listed inputs wait, none is started (jobs already running finish)${listing}; POST /v1/batches/${record.id}/resume continues it`;
}

/**
 * The public view of a batch: counters, throughput, ETA, and what it waits for. With `served` (the
 * models live workers serve), a batch naming a model none of them serves waits for a worker.
 */
export function toBatchStatus(record: BatchRecord, now = Date.now(), served?: ServedModels): BatchStatus {
  const done = record.completed + record.failed;
  const end = record.finishedAt ? Date.parse(record.finishedAt) : now;
  const seconds = Math.max((end - Date.parse(record.createdAt)) / 1000, 0.001);
  const throughput = Math.round((done / seconds) * 100) / 100;
  const remaining = Math.max(record.total - done, 0);
  const finished = record.state === 'completed' || record.state === 'completed_with_errors' || record.state === 'cancelled';
  return {
    id: record.id,
    task: record.task,
    ...(record.model === undefined ? {} : { model: record.model }),
    state: record.state,
    priority: record.priority,
    total: record.total,
    completed: record.completed,
    failed: record.failed,
    skipped: record.skipped,
    documents: record.documents,
    pages: record.pages,
    skippedReasons: record.skippedReasons,
    cached: record.cached,
    cacheHitRate: done > 0 ? Math.round((record.cached / done) * 10_000) / 10_000 : 0,
    createdAt: record.createdAt,
    finishedAt: record.finishedAt,
    throughput,
    eta: finished ? 0 : throughput > 0 && record.state === 'running' ? Math.round((remaining / throughput) * 10) / 10 : null,
    ...batchWait(record, now, served),
  };
}
