import { skipReasons, type BatchState } from '@imagefleet/core';

/**
 * Response schemas shared by the routes: they document the API (@fastify/swagger builds
 * /openapi.json from them) and Fastify serializes answers with them. Objects keep properties they
 * do not list (additionalProperties), so a field added to an answer is never silently dropped.
 */
export const errorSchema = {
  type: 'object',
  description: 'A coded error: { error: <code>, message: <what is wrong, naming the field> }',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'bad_request: the message names the field',
  401: 'unauthorized: no valid API key',
  403: 'forbidden: the key lacks the scope, or a cross-origin request',
  404: 'not_found (another tenant\'s batches and jobs too)',
  409: 'conflict: the batch is in a state that does not allow this, or a chosen batchId names a different request',
  413: 'too_large',
  415: 'not_an_image',
  429: 'rate_limited, with Retry-After',
  503: 'unavailable: Redis is unreachable, with Retry-After',
};

/** The error answers of a route behind an API key, plus the ones it names. */
export function guardedErrors(...statusCodes: number[]): Record<number, unknown> {
  return Object.fromEntries([400, 401, 403, 429, 503, ...statusCodes].map((status) => [status, { ...errorSchema, description: ERROR_DESCRIPTIONS[status] }]));
}

export const BATCH_STATES: readonly BatchState[] = ['listing', 'running', 'paused', 'completed', 'completed_with_errors', 'cancelled'];

export const batchStatusSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'string' },
    task: { type: 'string' },
    model: { type: 'string' },
    state: { type: 'string', enum: BATCH_STATES },
    priority: { type: 'integer' },
    total: { type: 'integer' },
    completed: { type: 'integer' },
    failed: { type: 'integer' },
    skipped: { type: 'integer' },
    skippedReasons: { type: 'object', properties: Object.fromEntries(skipReasons.map((reason) => [reason, { type: 'integer' }])) },
    cached: { type: 'integer' },
    cacheHitRate: { type: 'number' },
    createdAt: { type: 'string' },
    finishedAt: { type: ['string', 'null'] },
    throughput: { type: 'number' },
    eta: { type: ['number', 'null'] },
    waitingFor: { type: ['string', 'null'] },
    detail: { type: ['string', 'null'] },
  },
} as const;

/** A body that is not JSON (NDJSON, CSV, an image, Prometheus text): documented, never serialized by Fastify. */
export function bodyOf(description: string, ...mediaTypes: string[]): { description: string; content: Record<string, { schema: { type: 'string'; format?: string } }> } {
  return { description, content: Object.fromEntries(mediaTypes.map((type) => [type, { schema: type.startsWith('image/') ? { type: 'string', format: 'binary' } : { type: 'string' } }])) };
}
