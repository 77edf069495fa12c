import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import multipart from '@fastify/multipart';
import type { ProducerDeps } from './deps.js';
import { BatchLister } from './lister.js';
import { batchRoutes } from './routes/batches.js';
import { uploadRoutes } from './routes/uploads.js';
import { healthRoutes } from './routes/health.js';
import { QueueSampler } from './queue-sampler.js';

export interface ProducerApp {
  app: FastifyInstance;
  lister: BatchLister;
  sampler: QueueSampler;
}

/**
 * The HTTP API. Boot order: multipart parser, error handler, then routes; the caller
 * listens (or uses app.inject in tests).
 */
export async function buildProducerApp(deps: ProducerDeps): Promise<ProducerApp> {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'api' }) as FastifyBaseLogger,
    // A misspelt field must be a 400, not silently stripped (Fastify's default is removeAdditional: true).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });
  const lister = new BatchLister(deps);
  await app.register(multipart);
  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown; code?: string }, request, reply) => {
    if (error.validation) return reply.code(400).send({ error: 'bad_request', message: error.message });
    const status = error.statusCode ?? 500;
    if (status === 413) return reply.code(413).send({ error: 'too_large', message: error.message });
    if (status < 500) return reply.code(status).send({ error: 'bad_request', message: error.message });
    request.log.error({ err: error.message, code: error.code }, 'request failed');
    return reply.code(status).send({ error: 'internal', message: 'internal error; see the producer log' });
  });
  await app.register(healthRoutes(deps));
  await app.register(batchRoutes(deps, lister));
  await app.register(uploadRoutes(deps, lister));
  const sampler = new QueueSampler(deps, deps.config.queueSampleMs);
  sampler.start();
  app.addHook('onClose', async () => {
    sampler.stop();
    await lister.idle();
  });
  return { app, lister, sampler };
}
