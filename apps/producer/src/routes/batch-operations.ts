import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BATCH_ID_PATTERN, type BatchState } from '@imagefleet/core';
import { toBatchStatus, type BatchRecord } from '@imagefleet/jobs';
import type { ProducerDeps } from '../deps.js';
import type { BatchOperations } from '../batch-operations.js';
import { ApiError, notFound } from '../http-errors.js';
import { callerOf } from '../http/auth.js';
import { visibleBatch } from '../tenancy.js';
import { batchStatusSchema, guardedErrors } from '../http/schemas.js';

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

/** The route's options: the batch's status after the change, with what the queue work did (`field`). */
function optionsAnswering(field: 'held' | 'requeued' | 'retried') {
  return {
    config: { scope: 'submit' as const },
    schema: {
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: BATCH_ID_PATTERN } } },
      response: { 200: { ...batchStatusSchema, properties: { ...batchStatusSchema.properties, [field]: { type: 'integer' } } }, ...guardedErrors(404, 409) },
    },
  };
}

function conflict(batch: BatchRecord, action: string, allowed: BatchState[]): ApiError {
  return new ApiError(409, 'conflict', `batch ${batch.id} is ${batch.state}; only a ${allowed.join(' or ')} batch can be ${action}`);
}

/**
 * POST /v1/batches/:id/pause, /resume and /retry (submit scope; another tenant's batch is 404, as
 * for cancel). Each answers the batch's status after the change, with what the queue work did.
 */
export function batchOperationRoutes(deps: ProducerDeps, operations: BatchOperations) {
  /** The caller's batch, then the operation; its answer merged into the batch's new status. */
  const handle =
    (operate: (batch: BatchRecord) => Promise<Record<string, unknown>>) =>
    async (request: IdRequest, reply: FastifyReply) => {
      const batch = await visibleBatch(deps.batches, callerOf(request), request.params.id);
      if (!batch) return notFound(reply, `batch ${request.params.id}`);
      const answer = await operate(batch);
      const after = await deps.batches.get(batch.id);
      return { ...toBatchStatus(after ?? batch), ...answer };
    };

  return async function register(app: FastifyInstance): Promise<void> {
    app.post<{ Params: { id: string } }>('/v1/batches/:id/pause', optionsAnswering('held'), handle(async (batch) => {
      const outcome = await operations.pause(batch);
      if (outcome.result !== 'paused') throw conflict(batch, 'paused', ['listing', 'running']);
      return { held: outcome.held };
    }));

    app.post<{ Params: { id: string } }>('/v1/batches/:id/resume', optionsAnswering('requeued'), handle(async (batch) => {
      const outcome = await operations.resume(batch);
      if (outcome.result !== 'resumed') throw conflict(batch, 'resumed', ['paused']);
      return { requeued: outcome.requeued };
    }));

    app.post<{ Params: { id: string } }>('/v1/batches/:id/retry', optionsAnswering('retried'), handle(async (batch) => {
      const outcome = await operations.retry(batch);
      if (outcome.result === 'nothing_failed') throw new ApiError(409, 'conflict', `batch ${batch.id} has no failed inputs to retry`);
      if (outcome.result !== 'retried') throw conflict(batch, 'retried', ['completed_with_errors']);
      return { retried: outcome.retried };
    }));
  };
}
