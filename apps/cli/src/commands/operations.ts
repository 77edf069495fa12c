import type { ApiClient } from '../api-client.js';
import { CliError, ExitCode } from '../cli-error.js';

/** `imagefleet pause|resume|retry <batchId>`: one line saying what changed. */
export async function batchOperation(client: ApiClient, action: 'pause' | 'resume' | 'retry', batchId: string): Promise<number> {
  const status = await client.batchAction(batchId, action);
  const what =
    action === 'pause'
      ? `paused (${Number(status.held ?? 0)} waiting jobs held back; running ones finish)`
      : action === 'resume'
        ? `resumed: ${status.state} (${Number(status.requeued ?? 0)} jobs enqueued again)`
        : `retrying ${Number(status.retried ?? 0)} failed inputs: ${status.state}`;
  process.stdout.write(`${status.id} ${what}\n`);
  return ExitCode.ok;
}

/** `imagefleet fleet pause|resume`: every image queue paused (no new image job starts) or resumed. */
export async function fleetOperation(client: ApiClient, action: string): Promise<number> {
  if (action !== 'pause' && action !== 'resume') throw new CliError(`fleet takes pause or resume, not ${JSON.stringify(action)}`, ExitCode.usage);
  const { paused } = await client.fleetAction(action);
  process.stdout.write(paused ? 'fleet paused: workers take no new image jobs (running ones finish)\n' : 'fleet resumed: workers take image jobs\n');
  return ExitCode.ok;
}
