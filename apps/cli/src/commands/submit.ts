import { resolve } from 'node:path';
import type { BatchSource } from '@imagefleet/core';
import type { ApiClient } from '../api-client.js';
import { CliError, ExitCode } from '../cli-error.js';
import { ProgressPrinter } from '../progress.js';
import { batchSummary } from '../summary.js';
import { exitCodeFor, waitForBatch } from '../wait-batch.js';

/** s3://bucket/prefix or a local directory. */
export function sourceFromTarget(target: string): BatchSource {
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(target);
  if (s3) return { s3: { bucket: s3[1]!, prefix: s3[2] ?? '' } };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) throw new CliError(`Unsupported source ${target}: use a directory or s3://bucket/prefix`, ExitCode.usage);
  return { local: { path: resolve(target) } };
}

export interface SubmitOptions {
  task: string;
  wait: boolean;
  options?: Record<string, unknown>;
  webhook?: string;
  /** Default: derived from the request, so the same submit twice is the same batch. */
  batchId?: string;
  /** A model id: the batch's model task runs on the workers of that model only. */
  model?: string;
}

export async function submit(client: ApiClient, target: string, options: SubmitOptions): Promise<number> {
  const { batchId, created, webhookSecret } = await client.createBatch({
    task: options.task,
    source: sourceFromTarget(target),
    ...(options.options ? { options: options.options } : {}),
    ...(options.webhook ? { webhook: options.webhook } : {}),
    ...(options.batchId ? { batchId: options.batchId } : {}),
    ...(options.model ? { model: options.model } : {}),
  });
  process.stdout.write(`batch ${batchId} ${created ? 'submitted' : 'already exists (same request): following it'}\n`);
  if (webhookSecret) process.stdout.write(`webhook signing secret (shown once; verify deliveries with it): ${webhookSecret}\n`);
  if (!options.wait) return ExitCode.ok;
  const status = await waitForBatch(client, batchId, new ProgressPrinter(process.stdout));
  process.stdout.write(await batchSummary(client, status));
  return exitCodeFor(status);
}
