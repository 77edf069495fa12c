import { request } from '../api';
import type { ResultLine } from '../types';

/** The batch's finished inputs (GET /v1/batches/:id/results, NDJSON), in the order the API gives them. */
export async function loadResults(batchId: string): Promise<ResultLine[]> {
  const text = await (await request(`/v1/batches/${encodeURIComponent(batchId)}/results`)).text();
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as ResultLine | { status: 'skipped' })
    .filter((line): line is ResultLine => line.status === 'ok' || line.status === 'failed');
}

/** `all`, `ok`, `failed`, or `code:<error code>`. */
export type ResultFilter = string;

export function applyFilter(lines: ResultLine[], filter: ResultFilter): ResultLine[] {
  if (filter === 'ok' || filter === 'failed') return lines.filter((line) => line.status === filter);
  if (filter.startsWith('code:')) return lines.filter((line) => line.error?.code === filter.slice(5));
  return lines;
}

/** Failed inputs per error code, most frequent first. */
export function errorCodes(lines: ResultLine[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const line of lines) if (line.error) counts.set(line.error.code, (counts.get(line.error.code) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]);
}
