import type { ResultLine, SkippedLine } from '@imagefleet/core';
import type { StoreRegistry } from '@imagefleet/storage';

/** Every line of a finished batch's manifest.jsonl, parsed: outcomes, then the skipped inputs it kept. */
export async function readManifestLines(stores: StoreRegistry, resultsUrl: string, batchId: string): Promise<(ResultLine | SkippedLine)[]> {
  const text = (await stores.open(resultsUrl).get(`${batchId}/manifest.jsonl`, { maxBytes: 1e8 })).toString();
  return text.trim().split('\n').map((line) => JSON.parse(line) as ResultLine | SkippedLine);
}

/** The outcome lines (ok, failed) of a finished batch's manifest.jsonl. */
export async function readManifest(stores: StoreRegistry, resultsUrl: string, batchId: string): Promise<ResultLine[]> {
  return (await readManifestLines(stores, resultsUrl, batchId)).filter((line): line is ResultLine => line.status !== 'skipped');
}
