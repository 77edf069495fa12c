import type { ErrorCode } from './errors.js';

/** Where a job's input lives: a store URL (s3://bucket or an absolute directory) and a key in it. */
export interface SourceRef {
  store: string;
  key: string;
}

export interface ImageJobData {
  batchId: string;
  task: string;
  source: SourceRef;
  /** Results store location (s3://bucket/prefix or a directory), fixed when the batch was created. */
  results: string;
  options?: Record<string, unknown>;
  /** A page job: the page (1-based) of the document at `source`; absent for an image or a document not yet split. */
  page?: number;
  /** Engine host crashes charged to this job so far (see ENGINE_MAX_CRASHES). */
  engineCrashes?: number;
  /** When this input first met a storage error it is waiting out (ms), and how often it waited. */
  storageErrorSince?: number;
  storagePostponements?: number;
}

export interface FinalizeJobData {
  batchId: string;
}

/** A batch's webhook delivery: everything else (URL, secret, status) is read from the batch at delivery. */
export interface WebhookJobData {
  batchId: string;
}

/** paused: an operator paused a listing or running batch (POST /v1/batches/:id/pause); resume restores the state it had. */
export type BatchState = 'listing' | 'running' | 'paused' | 'completed' | 'completed_with_errors' | 'cancelled';

export interface BatchStatus {
  id: string;
  task: string;
  /** The model the batch asked for (absent: any worker with a vision engine). */
  model?: string;
  state: BatchState;
  /** Fair-share weight: jobs served per scheduling round while it runs (1..10). */
  priority: number;
  total: number;
  completed: number;
  failed: number;
  skipped: number;
  /** Documents split into pages, and the pages they held (each page is one of `total`). */
  documents?: number;
  pages?: number;
  /** Why inputs were skipped: count per reason (only reasons that occurred; absent from older servers). */
  skippedReasons?: Partial<Record<SkipReason, number>>;
  /** Inputs answered from the result cache (counted once each; absent from older servers). */
  cached?: number;
  /** cached / inputs with an outcome (0 before any); absent from older servers. */
  cacheHitRate?: number;
  createdAt: string;
  finishedAt: string | null;
  /** Finished inputs per second since the batch was created. */
  throughput: number;
  /** Seconds until done at the current throughput; null when unknown. */
  eta: number | null;
  /** What an unfinished batch is waiting on, when it is not simply working through its inputs. */
  waitingFor?: BatchWait | null;
  /** One line on what it waits for (e.g. the storage error inputs are retrying), or null. */
  detail?: string | null;
}

/**
 * What a finished batch came to, written by finalize beside its manifest (`<batchId>/summary.json`
 * in the results store, with the same whole-or-nothing write) and served by
 * GET /v1/batches/:id/summary. Counts as in BatchStatus; `failures` counts the failed inputs per
 * error code (summing to `failed`).
 */
export interface BatchSummary {
  batchId: string;
  task: string;
  model?: string;
  state: 'completed' | 'completed_with_errors';
  total: number;
  completed: number;
  failed: number;
  skipped: number;
  documents: number;
  pages: number;
  cached: number;
  cacheHitRate: number;
  failures: Record<string, number>;
  skippedReasons: Partial<Record<SkipReason, number>>;
  createdAt: string;
  finishedAt: string;
}

/**
 * lister: no producer is listing the source right now (one takes it over when the lock expires);
 * room: its producer is listing, paused because LISTING_AHEAD of its inputs wait in the queue
 * (listing continues as they finish); storage: inputs are waiting out storage errors; finalizing:
 * every input has an outcome and the manifest is being written (or its write is being retried);
 * worker: the batch names a model that no live worker serves (its inputs wait in that model's queue).
 * paused: an operator paused it (POST /v1/batches/:id/resume continues it).
 */
export type BatchWait = 'lister' | 'room' | 'storage' | 'finalizing' | 'worker' | 'paused';

/**
 * Why a listed input was not enqueued: its name has no image extension; its key is not safe to send
 * to a store (control characters, '..', '//', a leading '/', over 1024 bytes); it is a symbolic
 * link (never followed); it is not a regular file (FIFO, socket, device).
 */
export type SkipReason = 'not_an_image_name' | 'invalid_key' | 'symlink' | 'not_a_regular_file';
export const skipReasons: readonly SkipReason[] = ['not_an_image_name', 'invalid_key', 'symlink', 'not_a_regular_file'];

/** A skipped input as the manifest lists it (after the outcome lines; the first SKIPPED_KEYS_KEPT of a batch). */
export interface SkippedLine {
  key: string;
  status: 'skipped';
  reason: SkipReason;
}

/** One line of GET /v1/batches/:id/results and of manifest.jsonl; also the content of each result object. */
export interface ResultLine {
  key: string;
  status: 'ok' | 'failed';
  result?: unknown;
  /** The result was reused from the result cache (RESULT_CACHE): computed earlier for the same bytes, task, options and model. */
  cached?: true;
  /** Where a cached result was computed. */
  cachedFrom?: { batchId: string };
  /** Extra fields may follow code and message, e.g. `raw` model output for invalid_output. */
  error?: { code: ErrorCode; message: string; [detail: string]: unknown };
}

/** The batch source accepted by POST /v1/batches. */
export type BatchSource =
  | { s3: { bucket: string; prefix: string } }
  | { keys: string[]; bucket: string }
  | { local: { path: string } }
  | { upload: { key: string } };
