import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { BATCH_ID_PATTERN, WebhookRefusedError, checkWebhookUrl, newWebhookSecret, toCsv, webhookPolicyOf } from '@imagefleet/core';
import { toBatchStatus, type BatchRecord } from '@imagefleet/jobs';
import { modelProblem, servedModelsFor } from '../model-routing.js';
import { resultLayout, streamResultLines } from '@imagefleet/storage';
import { getTask, taskNames } from '@imagefleet/tasks';
import type { ProducerDeps } from '../deps.js';
import type { BatchLister } from '../lister.js';
import { SourceError, parseSource, resolveSourceStore } from '../source.js';
import { checkRealLocalSource, checkSourceAllowed } from '../source-policy.js';
import { ApiError, badRequest, notFound } from '../http-errors.js';
import { callerOf } from '../http/auth.js';
import { batchStatusSchema, bodyOf, guardedErrors } from '../http/schemas.js';
import { requestFingerprint, visibleBatch } from '../tenancy.js';
import { routeOf } from '../batch-jobs.js';

interface CreateBatchBody {
  task: string;
  source: unknown;
  options?: Record<string, unknown>;
  webhook?: string;
  batchId?: string;
  priority?: number;
  model?: string;
}

/** A batch's fair-share weight: 1 (default, plain round-robin) to 10 jobs per scheduling round. */
const MAX_BATCH_PRIORITY = 10;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: BATCH_ID_PATTERN } },
} as const;

export function batchRoutes(deps: ProducerDeps, lister: BatchLister) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.post<{ Body: CreateBatchBody }>(
      '/v1/batches',
      {
        config: { scope: 'submit' },
        bodyLimit: 16 * 1024 * 1024,
        schema: {
          body: {
            type: 'object',
            required: ['task', 'source'],
            additionalProperties: false,
            properties: {
              task: { type: 'string', enum: taskNames() },
              source: { type: 'object' },
              options: { type: 'object' },
              webhook: { type: 'string', maxLength: 2048 },
              batchId: { type: 'string', pattern: BATCH_ID_PATTERN },
              priority: { type: 'integer', minimum: 1, maximum: MAX_BATCH_PRIORITY },
              model: { type: 'string', maxLength: 200 },
            },
          },
          response: {
            202: { type: 'object', properties: { batchId: { type: 'string' }, created: { type: 'boolean' }, webhookSecret: { type: 'string' } } },
            ...guardedErrors(409),
          },
        },
      },
      async (request, reply) => {
        const { task: taskName, options = {}, webhook, priority = 1, model } = request.body;
        const wrongModel = modelProblem(model, taskName);
        if (wrongModel) return badRequest(reply, wrongModel);
        if (webhook !== undefined) {
          try {
            checkWebhookUrl(webhook, webhookPolicyOf(deps.config));
          } catch (error) {
            if (error instanceof WebhookRefusedError) return badRequest(reply, error.message);
            throw error;
          }
        }
        const task = getTask(taskName)!;
        const optionsProblem = task.validateOptions(options);
        if (optionsProblem) return badRequest(reply, optionsProblem);
        let source;
        let sourceStore;
        try {
          source = parseSource(request.body.source);
          checkSourceAllowed(source, deps.config);
          sourceStore = await resolveSourceStore(source, deps.config.localSourceRoots);
          if ('local' in source) await checkRealLocalSource(sourceStore, deps.config);
        } catch (error) {
          if (error instanceof SourceError) return badRequest(reply, error.message);
          throw error;
        }
        if (sourceStore.startsWith('s3://')) {
          // One answer whether the bucket is missing, forbidden or the store is down: the body names
          // the field, never the endpoint or which of those it was; the log keeps the Error.
          const unreadable = await deps.stores.open(sourceStore).ping().then(() => undefined, (error: unknown) => error);
          if (unreadable) {
            request.log.warn({ err: unreadable, sourceStore }, 'source bucket cannot be read');
            return badRequest(reply, `${'s3' in source ? 'source.s3.bucket' : 'source.bucket'} cannot be read by this server`);
          }
        }
        const tenant = callerOf(request).tenant;
        const fingerprint = requestFingerprint({ task: taskName, source, options, tenant, model });
        const batchId = request.body.batchId ?? fingerprint;
        const webhookSecret = webhook === undefined ? undefined : newWebhookSecret();
        const created = await deps.batches.create({ id: batchId, task: taskName, source, sourceStore, options, webhook, webhookSecret, resultsUrl: deps.config.resultsUrl, tenant, priority, model });
        if (!created) {
          // A chosen id may not name someone else's batch, nor another request of one's own.
          const existing = await deps.batches.get(batchId);
          if (existing && requestFingerprint(existing) !== fingerprint) {
            throw new ApiError(409, 'conflict', `batchId ${batchId} is taken by a different request; choose another or leave batchId out`);
          }
        }
        // A re-post of an unfinished listing resumes it (the lister lock keeps it single).
        lister.start(batchId);
        request.log.info({ batchId, task: taskName, model, created }, created ? 'batch created' : 'batch already exists');
        // The signing secret is shown once, to the request that created the batch.
        return reply.code(202).send(created && webhookSecret ? { batchId, created, webhookSecret } : { batchId, created });
      },
    );

    app.get<{ Params: { id: string } }>('/v1/batches/:id', { config: { scope: 'read' }, schema: { params: idParams, response: { 200: batchStatusSchema, ...guardedErrors(404) } } }, async (request, reply) => {
      const batch = await visibleBatch(deps.batches, callerOf(request), request.params.id);
      if (!batch) return notFound(reply, `batch ${request.params.id}`);
      return toBatchStatus(batch, Date.now(), await servedModelsFor([batch], deps.workers));
    });

    const resultsSchema = {
      params: idParams,
      querystring: { type: 'object', properties: { format: { type: 'string', enum: ['jsonl', 'csv'] } } },
      response: { 200: bodyOf('One line per finished input (JSONL), or the same as CSV with result fields flattened', 'application/x-ndjson', 'text/csv'), ...guardedErrors(404) },
    };
    app.get<{ Params: { id: string }; Querystring: { format?: 'jsonl' | 'csv' } }>('/v1/batches/:id/results', { config: { scope: 'read' }, schema: resultsSchema }, async (request, reply) => {
      const batch = await visibleBatch(deps.batches, callerOf(request), request.params.id);
      if (!batch) return notFound(reply, `batch ${request.params.id}`);
      if (request.query.format === 'csv') {
        const lines = linesOf(await resultStream(deps, batch));
        return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${batch.id}.csv"`).send(Readable.from(toCsv(lines)));
      }
      return reply.type('application/x-ndjson').send(await resultStream(deps, batch));
    });

    app.delete<{ Params: { id: string } }>('/v1/batches/:id', { config: { scope: 'submit' }, schema: { params: idParams, response: { 200: { ...batchStatusSchema, properties: { ...batchStatusSchema.properties, removed: { type: 'integer' } } }, ...guardedErrors(404) } } }, async (request, reply) => {
      const visible = await visibleBatch(deps.batches, callerOf(request), request.params.id);
      if (!visible) return notFound(reply, `batch ${request.params.id}`);
      const outcome = await deps.batches.cancel(request.params.id);
      if (outcome === 'missing') return notFound(reply, `batch ${request.params.id}`);
      // Its jobs no worker has taken yet are removed (found through its queued-jobs index); running ones see the cancelled state and skip themselves.
      const removed = outcome === 'cancelled' ? await deps.jobs.removeBatchJobs(routeOf(visible), request.params.id) : 0;
      const batch = await deps.batches.get(request.params.id);
      request.log.info({ batchId: request.params.id, removed, outcome }, 'batch cancel requested');
      return { ...toBatchStatus(batch!), removed };
    });
  };
}

/** The batch's result lines: the manifest once it is written, else the result objects stored so far. */
async function resultStream(deps: ProducerDeps, batch: BatchRecord): Promise<Readable> {
  const store = deps.stores.open(batch.resultsUrl);
  const finished = batch.state === 'completed' || batch.state === 'completed_with_errors';
  const manifestKey = resultLayout.manifestKey(batch.id);
  return finished && (await store.head(manifestKey)) ? await store.getStream(manifestKey) : Readable.from(streamResultLines(store, batch.id));
}

/** The stream's non-empty lines; the reader starts when the first line is asked for (readline drops lines nobody iterates yet). */
async function* linesOf(stream: Readable): AsyncGenerator<string> {
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) if (line.trim() !== '') yield line;
}
