import type { ResultLine } from '@imagefleet/core';
import type { StoreRegistry } from '@imagefleet/storage';

/** The manifest.jsonl of a finished batch, parsed. */
export async function readManifest(stores: StoreRegistry, resultsUrl: string, batchId: string): Promise<ResultLine[]> {
  const text = (await stores.open(resultsUrl).get(`${batchId}/manifest.jsonl`, { maxBytes: 1e8 })).toString();
  return text.trim().split('\n').map((line) => JSON.parse(line) as ResultLine);
}
