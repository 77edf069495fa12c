import type { BatchStatus, ResultLine, SkipReason, SkippedLine } from '@imagefleet/core';
import type { ApiClient } from './api-client.js';
import { getTask, type ModelTaskResult, type Task } from '@imagefleet/tasks';
import { formatSeconds } from './progress.js';

const SKIP_WORDS: Record<SkipReason, string> = {
  not_an_image_name: 'not image files by name',
  invalid_key: 'unsafe keys',
  symlink: 'symbolic links',
  not_a_regular_file: 'not regular files',
};

function compact(value: unknown, width: number): string {
  const text = JSON.stringify(value) ?? '';
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

function describeResult(task: Task, result: unknown): string {
  return task.kind === 'model' ? task.describe(result as ModelTaskResult) : task.describe(result);
}

/** " (12 from the result cache, 40% hit rate)" when any input was answered from the cache. */
function cachedNote(status: BatchStatus): string {
  if (!status.cached) return '';
  return ` (${status.cached} from the result cache, ${Math.round((status.cacheHitRate ?? 0) * 100)}% hit rate)`;
}

/**
 * A one-screen summary: counts, speed, failures by code and the first few results. Failures by
 * code come from the batch's summary object when it has one (a finished batch), else from its
 * result lines (a cancelled batch).
 */
export async function batchSummary(client: ApiClient, status: BatchStatus, sampleCount = 5): Promise<string> {
  const summary = await client.batchSummary(status.id);
  const failuresByCode = new Map<string, number>(Object.entries(summary?.failures ?? {}));
  const samples: ResultLine[] = [];
  for await (const raw of client.results(status.id)) {
    const line = JSON.parse(raw) as ResultLine | SkippedLine;
    if (line.status === 'skipped') continue;
    if (line.status === 'failed' && line.error) {
      if (!summary) failuresByCode.set(line.error.code, (failuresByCode.get(line.error.code) ?? 0) + 1);
    } else if (samples.length < sampleCount) samples.push(line);
    else if (summary) break;
  }
  const seconds = status.finishedAt ? (Date.parse(status.finishedAt) - Date.parse(status.createdAt)) / 1000 : null;
  const reasons = Object.entries(status.skippedReasons ?? {}).map(([reason, count]) => `${count} ${SKIP_WORDS[reason as SkipReason]}`);
  const codes = [...failuresByCode].map(([code, count]) => `${code}: ${count}`).join(', ');
  const lines = [
    '',
    `Batch ${status.id} (${status.task}): ${status.state}`,
    `  inputs   ${status.total} analysed, ${status.skipped} skipped${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}`,
    ...(status.documents ? [`  documents ${status.documents} split into ${status.pages ?? 0} pages (each page is one of the inputs; each document also has a joined result)`] : []),
    `  ok       ${status.completed}${cachedNote(status)}`,
    `  failed   ${status.failed}${codes ? `  (${codes})` : ''}`,
    `  time     ${formatSeconds(seconds)}  ${status.throughput.toFixed(1)} images/s`,
  ];
  if (samples.length > 0) {
    lines.push('  first results:');
    const task = getTask(status.task);
    for (const sample of samples) {
      lines.push(`    ${sample.key.padEnd(28)} ${task ? describeResult(task, sample.result) : compact(sample.result, 110)}`);
    }
  }
  lines.push(`  all results: imagefleet results ${status.id} [--format csv] [--out FILE]`, '');
  return lines.join('\n');
}
