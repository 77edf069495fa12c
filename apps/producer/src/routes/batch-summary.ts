import type { FastifyInstance } from 'fastify';
import { BATCH_ID_PATTERN, ImagefleetError, skipReasons, type BatchSummary } from '@imagefleet/core';
import { resultLayout, withStorageRetries } from '@imagefleet/storage';
import type { ProducerDeps } from '../deps.js';
import { ApiError, notFound } from '../http-errors.js';
import { callerOf } from '../http/auth.js';
import { guardedErrors } from '../http/schemas.js';
import { visibleBatch } from '../tenancy.js';

const MAX_SUMMARY_BYTES = 1024 * 1024;
const count = { type: 'integer' } as const;

export const batchSummarySchema = {
  type: 'object',
  description: "A finished batch's summary, written by finalize beside its manifest",
  additionalProperties: true,
  properties: {
    batchId: { type: 'string' },
    task: { type: 'string' },
    model: { type: 'string' },
    state: { type: 'string', enum: ['completed', 'completed_with_errors'] },
    total: count,
    completed: count,
    failed: count,
    skipped: count,
    documents: count,
    pages: count,
    cached: count,
    cacheHitRate: { type: 'number' },
    failures: { type: 'object', description: 'failed inputs per error code', additionalProperties: count },
    skippedReasons: { type: 'object', properties: Object.fromEntries(skipReasons.map((reason) => [reason, count])) },
    createdAt: { type: 'string' },
    finishedAt: { type: 'string' },
  },
} as const;

/**
 * GET /v1/batches/:id/summary (read scope; another tenant's batch is 404, as for /results): the
 * summary object finalize wrote with the manifest. An unfinished batch has none yet (409); a batch
 * finished before summaries were written has none at all (404).
 */
export function batchSummaryRoutes(deps: ProducerDeps) {
  return async function register(app: FastifyInstance): Promise<void> {
    const schema = { params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: BATCH_ID_PATTERN } } }, response: { 200: batchSummarySchema, ...guardedErrors(404, 409) } };
    app.get<{ Params: { id: string } }>('/v1/batches/:id/summary', { config: { scope: 'read' }, schema }, async (request, reply) => {
      const batch = await visibleBatch(deps.batches, callerOf(request), request.params.id);
      if (!batch) return notFound(reply, `batch ${request.params.id}`);
      if (batch.state !== 'completed' && batch.state !== 'completed_with_errors') {
        throw new ApiError(409, 'conflict', `batch ${batch.id} is ${batch.state}; its summary is written when it finishes`);
      }
      const store = deps.stores.open(batch.resultsUrl);
      try {
        const body = await withStorageRetries(() => store.get(resultLayout.summaryKey(batch.id), { maxBytes: MAX_SUMMARY_BYTES }));
        return JSON.parse(body.toString('utf8')) as BatchSummary;
      } catch (error) {
        if (error instanceof ImagefleetError && error.code === 'not_found') return notFound(reply, `the summary of batch ${batch.id} (it finished before summaries were written)`);
        throw error;
      }
    });
  };
}
