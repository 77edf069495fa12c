import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';

/**
 * The default MODEL_ID of a GGUF file: its name (lower case, without .gguf) and a 6-hex-digit
 * prefix of the SHA-256 of its absolute path and size, so two different files with the same name
 * (another quantization run, another directory) are two models.
 */
export function modelIdOf(modelPath: string, sizeBytes: number): string {
  const name = basename(modelPath).replace(/\.gguf$/i, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'model';
  const hash = createHash('sha256').update(`${modelPath}\0${sizeBytes}`).digest('hex').slice(0, 6);
  return `${name}-${hash}`;
}

export async function modelIdOfFile(modelPath: string): Promise<string> {
  return modelIdOf(modelPath, (await stat(modelPath)).size);
}
