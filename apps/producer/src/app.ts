import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import multipart from '@fastify/multipart';
import { ImagefleetError, UnavailableError } from '@imagefleet/core';
import { isRedisUnavailable } from '@imagefleet/jobs';
import type { ProducerDeps } from './deps.js';
import { BatchLister } from './lister.js';
import { batchRoutes } from './routes/batches.js';
import { batchSummaryRoutes } from './routes/batch-summary.js';
import { batchListingRoutes } from './routes/batch-listing.js';
import { fleetModelRoutes } from './routes/fleet-models.js';
import { fleetControlRoutes } from './routes/fleet-control.js';
import { batchOperationRoutes } from './routes/batch-operations.js';
import { BatchOperations } from './batch-operations.js';
import { uploadRoutes } from './routes/uploads.js';
import { healthRoutes, metricsRoute } from './routes/health.js';
import { ApiError } from './http-errors.js';
import { installAuth } from './http/auth.js';
import { refuseCrossOrigin, refuseRebinding, registerHeaders, registerRateLimit, serverTimeouts } from './http/hardening.js';
import { adminBoard, adminSessionRoutes } from './http/admin-board.js';
import { registerConsole } from './http/console.js';
import { registerOpenApi } from './http/openapi.js';
import { thumbnailRoutes } from './routes/thumbnails.js';
import { QueueSampler } from './queue-sampler.js';
import { Reconciler } from './reconciler.js';

/** Seconds a client is told to wait (Retry-After) while Redis is unreachable, unless the error says. */
export const REDIS_RETRY_AFTER_SECONDS = 2;

/**
 * Retry-After seconds when an error means Redis is out of reach (an UnavailableError from the
 * fail-fast connection, or ioredis' own errors), else undefined. Our coded errors are never
 * Redis outages: a storage_error whose S3 socket was reset stays a 500.
 */
export function redisOutageRetryAfter(error: unknown): number | undefined {
  if (error instanceof UnavailableError) return error.retryAfterSeconds;
  if (error instanceof ImagefleetError) return undefined;
  return isRedisUnavailable(error) ? REDIS_RETRY_AFTER_SECONDS : undefined;
}

export interface ProducerApp {
  app: FastifyInstance;
  lister: BatchLister;
  sampler: QueueSampler;
  /** Leader-elected convergence loop (every RECONCILE_INTERVAL_MS): resumes listings, (re)starts finalize. */
  reconciler: Reconciler;
  /** Every route registered, with whether it is hidden from /openapi.json (the console's files, bull-board). */
  routes: { method: string; url: string; hidden: boolean }[];
}

/**
 * The HTTP API. Boot order: security headers and CORS, cookie and multipart parsers, OpenAPI
 * (/openapi.json, /docs: before any route, it collects their schemas), error handler, the open
 * health routes and the web console's files, bull-board (/admin/queues, admin keys), then the
 * guarded scope (cross-origin refusal, API keys, rate limit) with every /v1 route and /metrics;
 * the caller listens (or uses app.inject in tests).
 */
export async function buildProducerApp(deps: ProducerDeps): Promise<ProducerApp> {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'api' }) as FastifyBaseLogger,
    // A misspelt field must be a 400, not silently stripped (Fastify's default is removeAdditional: true).
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    ...serverTimeouts(deps.config),
  });
  const lister = new BatchLister(deps);
  const routes: ProducerApp['routes'] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url, hidden: (route.schema as { hide?: boolean } | undefined)?.hide === true });
  });
  await registerHeaders(app, deps.config);
  await app.register(cookie);
  await app.register(multipart);
  await registerOpenApi(app);
  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown; code?: string }, request, reply) => {
    if (error instanceof ApiError) return reply.code(error.statusCode).send({ error: error.code, message: error.message });
    if (error.validation) return reply.code(400).send({ error: 'bad_request', message: error.message });
    const status = error.statusCode ?? 500;
    if (status === 413) return reply.code(413).send({ error: 'too_large', message: error.message });
    if (status < 500) return reply.code(status).send({ error: 'bad_request', message: error.message });
    // The request (method, url; reqId is bound by Fastify) with the Error itself: type, stack, causes.
    // Redis out of reach is a 503 with Retry-After: nothing is wrong with the request.
    const retryAfter = redisOutageRetryAfter(error);
    if (retryAfter !== undefined) {
      request.log.warn({ req: request, err: error }, 'Redis is unreachable; answered 503');
      return reply.code(503).header('retry-after', String(retryAfter)).send({ error: 'unavailable', message: 'Redis is unreachable; retry later' });
    }
    request.log.error({ req: request, err: error }, 'request failed');
    return reply.code(status).send({ error: 'internal', message: 'internal error; see the producer log' });
  });
  await app.register(healthRoutes(deps));
  await registerConsole(app, deps.logger);
  await app.register(adminBoard(deps));
  await app.register(async (guarded) => {
    refuseCrossOrigin(guarded, deps.config);
    refuseRebinding(guarded, deps.config);
    installAuth(guarded, { enabled: deps.config.auth, keys: deps.apiKeys });
    await registerRateLimit(guarded, deps.config, deps.redis);
    await guarded.register(batchRoutes(deps, lister));
    await guarded.register(batchSummaryRoutes(deps));
    await guarded.register(batchListingRoutes(deps));
    await guarded.register(fleetModelRoutes(deps));
    await guarded.register(fleetControlRoutes(deps));
    await guarded.register(batchOperationRoutes(deps, new BatchOperations(deps, lister, deps.logger.child({ component: 'api' }))));
    await guarded.register(uploadRoutes(deps, lister));
    await guarded.register(thumbnailRoutes(deps));
    await guarded.register(adminSessionRoutes());
    if (deps.config.producerMetricsPort === undefined) await guarded.register(metricsRoute(deps));
  });
  const sampler = new QueueSampler(deps, deps.config.queueSampleMs);
  sampler.start();
  const reconcilerLogger = deps.logger.child({ component: 'reconciler' });
  const reconciler = new Reconciler(deps.background, lister, new BatchOperations(deps.background, lister, reconcilerLogger), reconcilerLogger, {
    intervalMs: deps.config.reconcileIntervalMs,
    finalizeRetryMs: deps.config.finalizeRetryMs,
  });
  reconciler.start();
  app.addHook('onClose', async () => {
    sampler.stop();
    await reconciler.stop();
    await lister.stop();
  });
  return { app, lister, sampler, reconciler, routes };
}
