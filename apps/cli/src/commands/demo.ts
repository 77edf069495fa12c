import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../api-client.js';
import { CliError } from '../cli-error.js';
import { startStack } from './serve.js';
import { submit } from './submit.js';

/** The bundled sample images: <repo>/samples, found by walking up from this file. */
export function bundledSamplesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'samples'))) return join(dir, 'samples');
  }
  throw new CliError('The bundled samples/ folder was not found; pass a directory: imagefleet demo <dir>');
}

/**
 * Everything on one machine, on embedded defaults: a local Redis (started if needed), the API on a
 * free port, a worker, the `inspect` task over a folder; prints progress and a summary, then stops.
 */
export async function demo(dir: string | undefined, task: string): Promise<number> {
  const samples = resolve(dir ?? bundledSamplesDir());
  const env = {
    ...process.env,
    PORT: process.env.PORT ?? '0',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    LOCAL_SOURCE_ROOTS: process.env.LOCAL_SOURCE_ROOTS ?? samples,
  };
  const stack = await startStack({ producer: true, worker: true, localRedis: true, localAuth: true }, env, { logToStderr: true });
  try {
    process.stdout.write(`imagefleet demo: ${task} over ${samples} (Redis ${stack.config.redisUrl}, results in ${stack.config.resultsUrl})\n`);
    if (!stack.config.modelPath && task !== 'inspect') {
      process.stdout.write(
        'NOTE: no MODEL_PATH is set, so this runs the generated tiny model with RANDOM weights: the pipeline is real,\n' +
          '      the answers are schema-valid noise. For real tags: imagefleet models pull (see README), then set MODEL_PATH and MMPROJ_PATH.\n',
      );
    }
    return await submit(new ApiClient(stack.producer!.url, process.env.IMAGEFLEET_API_KEY), samples, { task, wait: true, batchId: `demo_${Date.now()}` });
  } finally {
    await stack.stop();
  }
}
