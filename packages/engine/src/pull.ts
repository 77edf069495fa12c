import { createModelDownloader } from 'node-llama-cpp';
import { readProjector, readTextModel } from './model-files.js';

export interface PullProgress {
  downloadedBytes: number;
  totalBytes: number;
  bytesPerSecond: number;
}

export interface PullOptions {
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
  /** Extra request headers (e.g. Authorization for a private mirror). */
  headers?: Record<string, string>;
}

/**
 * Downloads a GGUF file (http(s) URL or hf:owner/repo/file.gguf) into dir with node-llama-cpp's
 * downloader: parallel ranges, and an interrupted download resumes from its partial file. The
 * finished file is validated as the role it was pulled for.
 */
export async function pullModel(uri: string, dir: string, role: 'model' | 'mmproj', options: PullOptions = {}): Promise<string> {
  const downloader = await createModelDownloader({
    modelUri: uri,
    dirPath: dir,
    headers: options.headers,
    skipExisting: true,
    deleteTempFileOnCancel: false,
    onProgress: (status) =>
      options.onProgress?.({ downloadedBytes: status.downloadedSize, totalBytes: status.totalSize, bytesPerSecond: status.averageSpeed }),
  });
  const path = await downloader.download({ signal: options.signal });
  if (role === 'model') await readTextModel(path);
  else await readProjector(path);
  return path;
}
