import type { BatchStatus } from '@imagefleet/core';
import type { ApiClient } from './api-client.js';
import { ExitCode } from './cli-error.js';
import type { ProgressPrinter } from './progress.js';

export const FINISHED_STATES = new Set(['completed', 'completed_with_errors', 'cancelled']);

/** Polls the batch until it finishes, reporting progress on the way. */
export async function waitForBatch(client: ApiClient, batchId: string, printer: ProgressPrinter, pollMs = 500): Promise<BatchStatus> {
  for (;;) {
    const status = await client.batchStatus(batchId);
    if (FINISHED_STATES.has(status.state)) {
      printer.done(status);
      return status;
    }
    printer.update(status);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export function exitCodeFor(status: BatchStatus): number {
  if (status.state === 'cancelled') return ExitCode.batchCancelled;
  return status.failed > 0 ? ExitCode.batchHadErrors : ExitCode.ok;
}
