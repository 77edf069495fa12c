/** Where results live inside the results store. */
export const resultLayout = {
  batchPrefix: (batchId: string): string => `${batchId}/`,
  resultKey: (batchId: string, sourceKey: string): string => `${batchId}/${sourceKey}.json`,
  manifestKey: (batchId: string): string => `${batchId}/manifest.jsonl`,
  isResultKey: (batchId: string, key: string): boolean => key.endsWith('.json') && key !== `${batchId}/manifest.jsonl`,
} as const;
