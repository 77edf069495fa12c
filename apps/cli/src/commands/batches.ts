import type { BatchStatus } from '@imagefleet/core';
import type { ApiClient } from '../api-client.js';
import { CliError, ExitCode } from '../cli-error.js';
import { formatTable } from '../table.js';

const COLUMNS = ['ID', 'TASK', 'STATE', 'DONE/TOTAL', 'CREATED'];

function rowOf(batch: BatchStatus): string[] {
  return [batch.id, batch.task, batch.state, `${batch.completed + batch.failed}/${batch.total}`, batch.createdAt];
}

/** `imagefleet batches [--state S] [--limit N]`: the newest batches the key may see, as a table (follows `next` until N). */
export async function listBatches(client: ApiClient, flags: { state?: string; limit?: string }): Promise<number> {
  const limit = flags.limit === undefined ? 50 : Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new CliError('--limit must be an integer from 1 to 500', ExitCode.usage);
  const batches: BatchStatus[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listBatches({ state: flags.state, limit: limit - batches.length, cursor });
    batches.push(...page.batches);
    cursor = page.next ?? undefined;
  } while (cursor !== undefined && batches.length < limit);
  process.stdout.write(formatTable(COLUMNS, batches.map(rowOf)));
  return ExitCode.ok;
}
