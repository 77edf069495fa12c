import { createHash } from 'node:crypto';

export const BATCH_ID_PATTERN = '^[A-Za-z0-9_]{1,64}$';

/** A model id as MODEL_ID and a batch's `model` name it: letters, digits, . _ : - (1-100 chars). */
export const MODEL_ID_PATTERN = '^[A-Za-z0-9._:-]{1,100}$';

export function isModelId(value: string): boolean {
  return new RegExp(MODEL_ID_PATTERN).test(value);
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON with object keys sorted, so equal requests hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The same request (task, source, options, model) of the same tenant (API key id; none with AUTH=off)
 * always names the same batch: re-posting it is idempotent, and another tenant's identical
 * request names another batch, so ids cannot be computed or claimed across tenants.
 */
export function deriveBatchId(request: { task: string; source: unknown; options?: unknown; tenant?: string; model?: string }): string {
  // Without a model the hash is what it was before routing (canonicalJson drops undefined).
  return `b${sha256Hex(canonicalJson({ task: request.task, source: request.source, options: request.options ?? {}, tenant: request.tenant, model: request.model })).slice(0, 24)}`;
}

/** Job ids are derived from batch id + key, so an input is enqueued once per batch. BullMQ ids may not contain ':'. */
export function deriveJobId(batchId: string, key: string): string {
  return `${batchId}-${sha256Hex(key).slice(0, 24)}`;
}

export function batchIdOfJob(jobId: string): string | undefined {
  const batchId = jobId.split('-')[0];
  return batchId && new RegExp(BATCH_ID_PATTERN).test(batchId) ? batchId : undefined;
}
