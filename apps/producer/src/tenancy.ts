import { deriveBatchId } from '@imagefleet/core';
import type { BatchRecord, BatchRegistry } from '@imagefleet/jobs';
import type { Caller } from './http/auth.js';

/** Whether a caller may see a batch: its own tenant's, or every batch with admin scope (or AUTH=off). */
export function canSee(caller: Caller, batch: Pick<BatchRecord, 'tenant'>): boolean {
  return caller.seesAll || (batch.tenant !== undefined && batch.tenant === caller.tenant);
}

/** The batch if it exists and the caller may see it; another tenant's batch is as missing as an unknown one. */
export async function visibleBatch(batches: BatchRegistry, caller: Caller, id: string): Promise<BatchRecord | undefined> {
  const batch = await batches.get(id);
  return batch && canSee(caller, batch) ? batch : undefined;
}

/** What makes two posts the same batch: task, source, options, model and tenant (the derived id hashes exactly these). */
export function requestFingerprint(request: { task: string; source: unknown; options?: unknown; tenant?: string; model?: string }): string {
  return deriveBatchId({ task: request.task, source: request.source, options: request.options ?? {}, tenant: request.tenant, model: request.model });
}
