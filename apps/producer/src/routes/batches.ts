import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { BATCH_ID_PATTERN, deriveBatchId } from '@imagefleet/core';
import { toBatchStatus } from '@imagefleet/jobs';
import { resultLayout, streamResultLines } from '@imagefleet/storage';
import { getTask, taskNames } from '@imagefleet/tasks';
import type { ProducerDeps } from '../deps.js';
import type { BatchLister } from '../lister.js';
import { SourceError, parseSource, resolveSourceStore } from '../source.js';
import { badRequest, notFound } from '../http-errors.js';

interface CreateBatchBody {
  task: string;
  source: unknown;
  options?: Record<string, unknown>;
  webhook?: string;
  batchId?: string;
}

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
              webhook: { type: 'string', pattern: '^https?://', maxLength: 2048 },
              batchId: { type: 'string', pattern: BATCH_ID_PATTERN },
            },
          },
        },
      },
      async (request, reply) => {
        const { task: taskName, options = {}, webhook } = request.body;
        const task = getTask(taskName)!;
        const optionsProblem = task.validateOptions(options);
        if (optionsProblem) return badRequest(reply, optionsProblem);
        let source;
        let sourceStore;
        try {
          source = parseSource(request.body.source);
          sourceStore = await resolveSourceStore(source, deps.config.localSourceRoots);
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
        const batchId = request.body.batchId ?? deriveBatchId({ task: taskName, source, options });
        const created = await deps.batches.create({ id: batchId, task: taskName, source, sourceStore, options, webhook, resultsUrl: deps.config.resultsUrl });
        // A re-post of an unfinished listing resumes it (the lister lock keeps it single).
        lister.start(batchId);
        request.log.info({ batchId, task: taskName, created }, created ? 'batch created' : 'batch already exists');
        return reply.code(202).send({ batchId, created });
      },
    );

    app.get<{ Params: { id: string } }>('/v1/batches/:id', { schema: { params: idParams } }, async (request, reply) => {
      const batch = await deps.batches.get(request.params.id);
      if (!batch) return notFound(reply, `batch ${request.params.id}`);
      return toBatchStatus(batch);
    });

    app.get<{ Params: { id: string } }>('/v1/batches/:id/results', { schema: { params: idParams } }, async (request, reply) => {
      const batch = await deps.batches.get(request.params.id);
      if (!batch) return notFound(reply, `batch ${request.params.id}`);
      const store = deps.stores.open(batch.resultsUrl);
      const finished = batch.state === 'completed' || batch.state === 'completed_with_errors';
      const manifestKey = resultLayout.manifestKey(batch.id);
      const body = finished && (await store.head(manifestKey)) ? await store.getStream(manifestKey) : Readable.from(streamResultLines(store, batch.id));
      return reply.type('application/x-ndjson').send(body);
    });

    app.delete<{ Params: { id: string } }>('/v1/batches/:id', { schema: { params: idParams } }, async (request, reply) => {
      const outcome = await deps.batches.cancel(request.params.id);
      if (outcome === 'missing') return notFound(reply, `batch ${request.params.id}`);
      // Jobs no worker has taken yet are removed; running ones see the cancelled state and skip themselves.
      const removed = outcome === 'cancelled' ? await deps.jobs.removeBatchJobs(request.params.id) : 0;
      const batch = await deps.batches.get(request.params.id);
      request.log.info({ batchId: request.params.id, removed, outcome }, 'batch cancel requested');
      return { ...toBatchStatus(batch!), removed };
    });
  };
}

