import type { BatchStatus, BatchWait } from '@imagefleet/core';
import type { BatchRecord } from './batch-registry.js';

/** A storage error noted this recently still counts as inputs waiting for storage. */
export const STORAGE_WAIT_FRESH_MS = 60_000;

/** Status details quote storage errors: the endpoint they name (URL, address:port) is the server's business. */
export function redactEndpoints(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s)'"]+/g, '<endpoint>').replace(/\b(?:\d{1,3}\.){3}\d{1,3}:\d+\b|\[[0-9a-f:]+\]:\d+/gi, '<endpoint>');
}

/** What an unfinished batch waits for, and one line saying so; nulls when it is simply working. */
export function batchWait(record: BatchRecord, now = Date.now()): { waitingFor: BatchWait | null; detail: string | null } {
  if (record.state === 'listing') {
    if (record.listerActive && record.roomWaitSince !== undefined) {
      const waiting = Math.max(record.total - record.completed - record.failed, 0);
      return { waitingFor: 'room', detail: `${waiting} listed inputs are waiting in the queue (the LISTING_AHEAD limit); listing continues as they finish` };
    }
    if (record.listerActive) return { waitingFor: null, detail: null };
    const why = record.listError ? `the last listing attempt failed (${redactEndpoints(record.listError)}); ` : '';
    return { waitingFor: 'lister', detail: `${why}no producer is listing the source right now; the reconciler resumes it once the lister lock is free` };
  }
  if (record.state !== 'running') return { waitingFor: null, detail: null };
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

/** The public view of a batch: counters, throughput, ETA, and what it waits for. */
export function toBatchStatus(record: BatchRecord, now = Date.now()): BatchStatus {
  const done = record.completed + record.failed;
  const end = record.finishedAt ? Date.parse(record.finishedAt) : now;
  const seconds = Math.max((end - Date.parse(record.createdAt)) / 1000, 0.001);
  const throughput = Math.round((done / seconds) * 100) / 100;
  const remaining = Math.max(record.total - done, 0);
  const finished = record.state !== 'listing' && record.state !== 'running';
  return {
    id: record.id,
    task: record.task,
    state: record.state,
    total: record.total,
    completed: record.completed,
    failed: record.failed,
    skipped: record.skipped,
    documents: record.documents,
    pages: record.pages,
    skippedReasons: record.skippedReasons,
    createdAt: record.createdAt,
    finishedAt: record.finishedAt,
    throughput,
    eta: finished ? 0 : throughput > 0 && record.state === 'running' ? Math.round((remaining / throughput) * 10) / 10 : null,
    ...batchWait(record, now),
  };
}
