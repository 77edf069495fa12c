/** Where results live inside the results store. */
export const resultLayout = {
  batchPrefix: (batchId: string): string => `${batchId}/`,
  resultKey: (batchId: string, sourceKey: string): string => `${batchId}/${sourceKey}.json`,
  manifestKey: (batchId: string): string => `${batchId}/manifest.jsonl`,
  /** A source key whose result path would make the manifest's path a directory (a local store could then never write it). */
  takesManifestPath: (sourceKey: string): boolean => sourceKey.startsWith('manifest.jsonl/'),
  /** Result objects end in .json; the manifest (.jsonl) and anything else under the batch do not. */
  isResultKey: (key: string): boolean => key.endsWith('.json'),
} as const;
