import { skipReasons, type BatchSource, type BatchState, type SkipReason } from '@imagefleet/core';

/** The Redis hash of a batch. */
export function batchHashKey(prefix: string, id: string): string {
  return `${prefix}:batch:${id}`;
}

/** What a batch was asked to do; stored once at creation. */
export interface BatchRequest {
  id: string;
  task: string;
  source: BatchSource;
  /** Location of the store the inputs are read from (s3://bucket or a directory). */
  sourceStore: string;
  options?: Record<string, unknown>;
  webhook?: string;
  /** Standard Webhooks signing secret (whsec_...) of this batch's webhook; never in a status or a log. */
  webhookSecret?: string;
  /** Where results and the manifest go, fixed at creation so every worker writes to the same place. */
  resultsUrl: string;
  /** The API key id that created it; none when created with AUTH=off (then every caller sees it). */
  tenant?: string;
  /** Fair-share weight: jobs served per scheduling round (1..10, default 1). Not part of the batch id. */
  priority?: number;
  /** The model (a MODEL_ID) its model task asked for: its jobs go to that model's queue. */
  model?: string;
}

export interface BatchRecord extends BatchRequest {
  priority: number;
  state: BatchState;
  total: number;
  completed: number;
  failed: number;
  skipped: number;
  /** Inputs answered from the result cache (part of completed). */
  cached: number;
  /** Documents split into pages, and their pages (each page is one input of `total`). */
  documents: number;
  pages: number;
  /** Skipped inputs per reason (batches listed before reasons were kept: all 'not_an_image_name'). */
  skippedReasons: Partial<Record<SkipReason, number>>;
  cursor: string | undefined;
  createdAt: string;
  finishedAt: string | null;
  /** A producer holds the lister lock (meaningful while listing). */
  listerActive: boolean;
  /** Outcomes recorded whose result object is not stored yet. */
  pendingResults: number;
  /** Why the last listing attempt stopped, until a listing succeeds. */
  listError?: string;
  /** Since when (ms) its lister has been paused with LISTING_AHEAD inputs waiting; cleared when it continues. */
  roomWaitSince?: number;
  /** Manifest lines written by the finalize in progress. */
  finalizeLines?: number;
  /** Why the last finalize failed, until one succeeds. */
  finalizeError?: string;
  /** When an input last postponed itself for a storage error (ms), and that error. */
  storageWaitAt?: number;
  storageError?: string;
  /** Since when (ms) finalize has failed to store a pending result object; cleared once all are stored. */
  resultWriteFailingSince?: number;
  /** 'pending' from finishing until the webhook was tried, then 'delivered' or 'failed'. */
  webhookState?: string;
  /** While paused: the state it was paused from (resume restores it), and since when (ms). */
  pausedFrom?: 'listing' | 'running';
  pausedAt?: number;
  /** Times its failed inputs were retried (POST /v1/batches/:id/retry). */
  retries: number;
}

/** The 'skipped:<reason>' counters of a batch hash; what they do not account for predates them. */
function skippedReasonsOf(hash: Record<string, string>): Partial<Record<SkipReason, number>> {
  const reasons: Partial<Record<SkipReason, number>> = {};
  let counted = 0;
  for (const reason of skipReasons) {
    const count = Number(hash[`skipped:${reason}`] ?? 0);
    if (count > 0) reasons[reason] = count;
    counted += count;
  }
  const older = Number(hash.skipped ?? 0) - counted;
  if (older > 0) reasons.not_an_image_name = (reasons.not_an_image_name ?? 0) + older;
  return reasons;
}

export function toNumber(value: string | undefined): number {
  return value === undefined ? 0 : Number(value);
}

function optionalNumber(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

/** A batch as its Redis hash holds it, with the lister lock's presence and the count of results still to store. */
export function recordFromHash(hash: Record<string, string>, listerActive: boolean, pendingResults: number): BatchRecord | undefined {
  if (!hash.id || !hash.state) return undefined;
  return {
    id: hash.id,
    task: hash.task ?? '',
    state: hash.state as BatchState,
    source: JSON.parse(hash.source ?? '{}') as BatchSource,
    sourceStore: hash.sourceStore ?? '',
    options: JSON.parse(hash.options ?? '{}') as Record<string, unknown>,
    webhook: hash.webhook,
    webhookSecret: hash.webhookSecret,
    resultsUrl: hash.resultsUrl ?? '',
    tenant: hash.tenant,
    priority: toNumber(hash.priority) || 1,
    model: hash.model,
    total: toNumber(hash.total),
    completed: toNumber(hash.completed),
    failed: toNumber(hash.failed),
    skipped: toNumber(hash.skipped),
    cached: toNumber(hash.cached),
    documents: toNumber(hash.documents),
    pages: toNumber(hash.pages),
    skippedReasons: skippedReasonsOf(hash),
    cursor: hash.cursor,
    createdAt: hash.createdAt ?? new Date(0).toISOString(),
    finishedAt: hash.finishedAt ?? null,
    listerActive,
    pendingResults,
    listError: hash.listError,
    roomWaitSince: optionalNumber(hash.roomWaitSince),
    finalizeLines: optionalNumber(hash.finalizeLines),
    finalizeError: hash.finalizeError,
    storageWaitAt: optionalNumber(hash.storageWaitAt),
    storageError: hash.storageError,
    resultWriteFailingSince: optionalNumber(hash.resultWriteFailingSince),
    webhookState: hash.webhookState,
    pausedFrom: hash.pausedFrom as BatchRecord['pausedFrom'],
    pausedAt: optionalNumber(hash.pausedAt),
    retries: toNumber(hash.retries),
  };
}
