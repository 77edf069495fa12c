/** Where results live inside the results store. */
export const resultLayout = {
  batchPrefix: (batchId: string): string => `${batchId}/`,
  resultKey: (batchId: string, sourceKey: string): string => `${batchId}/${sourceKey}.json`,
  manifestKey: (batchId: string): string => `${batchId}/manifest.jsonl`,
  /**
   * The finished batch's summary, written with the manifest. No result object takes this path: a
   * result's key is its input's key + '.json', and an input's key has an image extension (a
   * listed one) or a folder of its own (an upload's `<batch>/<name>`).
   */
  summaryKey: (batchId: string): string => `${batchId}/summary.json`,
  /** A source key whose result path would make the manifest's path a directory (a local store could then never write it). */
  takesManifestPath: (sourceKey: string): boolean => sourceKey.startsWith('manifest.jsonl/'),
  /** Result objects end in .json; the manifest (.jsonl), the summary and anything else under the batch are not results. */
  isResultKey: (key: string): boolean => key.endsWith('.json') && !/^[^/]+\/summary\.json$/.test(key),
} as const;
