/** The API's answers the console reads (see /openapi.json). */
export interface BatchStatus {
  id: string;
  task: string;
  state: string;
  priority: number;
  total: number;
  completed: number;
  failed: number;
  skipped: number;
  createdAt: string;
  finishedAt: string | null;
  throughput: number;
  eta: number | null;
  waitingFor?: string | null;
  detail?: string | null;
  model?: string;
  /** Inputs answered from the result cache, and their share of the inputs with an outcome. */
  cached?: number;
  cacheHitRate?: number;
  /** Documents split into pages, and those pages (each page is one input of `total`). */
  documents?: number;
  pages?: number;
}

export interface BatchPageAnswer {
  batches: BatchStatus[];
  next: string | null;
}

/** GET /v1/fleet: paused when workers take no image job. */
export interface FleetState {
  paused: boolean;
  queues: { queue: string; paused: boolean }[];
}

export interface ResultLine {
  key: string;
  status: 'ok' | 'failed';
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
  /** Answered from the result cache (a result another batch computed for the same bytes). */
  cached?: boolean;
  cachedFrom?: { batchId: string };
}

/** One page of a document's joined result (`result.pages`, in page order). */
export type PageLine = ResultLine & { page: number };

export interface FleetModel {
  modelId: string;
  totals: { workers: number; slots: number; imagesPerSecond: number };
}

export interface JobStatus {
  id: string;
  batchId: string;
  key?: string;
  state: string;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

export const FINISHED_STATES = ['completed', 'completed_with_errors', 'cancelled'];

export const BATCH_STATES = ['listing', 'running', 'paused', ...FINISHED_STATES];
