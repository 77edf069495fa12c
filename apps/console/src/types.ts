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
}

export interface ResultLine {
  key: string;
  status: 'ok' | 'failed';
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

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
