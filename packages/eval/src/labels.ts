import { isPageKey } from '@imagefleet/core';
import type { Label, Prediction } from './evaluate.js';

/** A labels file the eval cannot use; the message names the line. */
export class LabelsError extends Error {
  override readonly name = 'LabelsError';
}

/** labels.jsonl: one `{"key": "...", "fields": {...}}` per line; blank lines are ignored; keys are unique. */
export function parseLabels(text: string): Label[] {
  const labels: Label[] = [];
  const seen = new Set<string>();
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new LabelsError(`labels line ${index + 1} is not JSON (${(error as Error).message})`);
    }
    const { key, fields } = (value ?? {}) as Partial<Label>;
    if (typeof key !== 'string' || key === '') throw new LabelsError(`labels line ${index + 1} needs a "key" (the input's key, as in the batch's results)`);
    if (!fields || typeof fields !== 'object' || Array.isArray(fields)) throw new LabelsError(`labels line ${index + 1} needs "fields" (an object of expected values)`);
    if (seen.has(key)) throw new LabelsError(`labels line ${index + 1} repeats the key ${JSON.stringify(key)}`);
    seen.add(key);
    labels.push({ key, fields });
  }
  if (labels.length === 0) throw new LabelsError('the labels file has no labels');
  return labels;
}

/** The label key a result key answers: the same key, or the key with its source prefix left out ("shop/2026/a.png" answers "a.png"). */
function labelKeyOf(resultKey: string, labelKeys: ReadonlySet<string>): string | undefined {
  if (labelKeys.has(resultKey)) return resultKey;
  const parts = resultKey.split('/');
  for (let start = 1; start < parts.length; start++) {
    const suffix = parts.slice(start).join('/');
    if (labelKeys.has(suffix)) return suffix;
  }
  return undefined;
}

/**
 * The labelled inputs' results from a batch's result lines (NDJSON, as GET /v1/batches/:id/results
 * streams them); lines of unlabelled inputs are dropped as they pass, so memory follows the labels.
 * A document (PDF, multi-page TIFF) is scored by its joined result under its own key, whose
 * `output` is the whole invoice; its pages' lines (`<key>#page=<n>`) are never predictions.
 */
export async function collectPredictions(labels: Label[], resultLines: AsyncIterable<string>): Promise<Map<string, Prediction>> {
  const labelKeys = new Set(labels.map((label) => label.key));
  const predictions = new Map<string, Prediction>();
  for await (const text of resultLines) {
    const line = JSON.parse(text) as { key: string; status: string; result?: { output?: unknown }; error?: { code?: string } };
    if (isPageKey(line.key)) continue;
    const key = labelKeyOf(line.key, labelKeys);
    if (key === undefined || line.status === 'skipped') continue;
    const output = line.result?.output;
    if (line.status === 'ok' && output && typeof output === 'object') predictions.set(key, { status: 'ok', output: output as Record<string, unknown> });
    else predictions.set(key, { status: 'failed', code: line.error?.code ?? 'no_output' });
  }
  return predictions;
}
