import type { FastifyInstance } from 'fastify';
import { pingRedis } from '@imagefleet/jobs';
import type { ProducerDeps } from '../deps.js';
import { bodyOf, guardedErrors } from '../http/schemas.js';

/** /healthz: the process is up. /readyz: Redis and the result/upload stores answer. Both open to anyone. */
export function healthRoutes(deps: ProducerDeps) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/healthz', { schema: { security: [], response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } } } } } }, async () => ({ status: 'ok' }));

    const readySchema = {
      security: [],
      response: {
        200: { type: 'object', properties: { status: { type: 'string', enum: ['ready'] } } },
        503: { type: 'object', description: 'a dependency does not answer', properties: { status: { type: 'string', enum: ['unavailable'] }, failing: { type: 'array', items: { type: 'string', enum: ['redis', 'results', 'uploads'] } } } },
      },
    };
    app.get('/readyz', { schema: readySchema }, async (request, reply) => {
      const checks = {
        redis: pingRedis(deps.redis),
        results: deps.stores.open(deps.config.resultsUrl).ping(),
        uploads: deps.stores.open(deps.config.uploadsUrl).ping(),
      };
      const names = Object.keys(checks) as (keyof typeof checks)[];
      const settled = await Promise.allSettled(Object.values(checks));
      const failing = names.filter((_name, index) => settled[index]!.status === 'rejected');
      if (failing.length > 0) {
        // The open answer names the checks only; endpoints, buckets and paths stay in the log.
        for (const name of failing) request.log.warn({ check: name, err: (settled[names.indexOf(name)] as PromiseRejectedResult).reason }, 'readiness check failed');
        return reply.code(503).send({ status: 'unavailable', failing });
      }
      return { status: 'ready' };
    });
  };
}

/** /metrics (Prometheus) on the API port: behind a key with the metrics scope. */
export function metricsRoute(deps: Pick<ProducerDeps, 'metrics'>) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/metrics', { config: { scope: 'metrics' }, schema: { response: { 200: bodyOf('Prometheus text exposition', 'text/plain'), ...guardedErrors() } } }, async (_request, reply) => {
      const body = await deps.metrics.metrics();
      return reply.type(deps.metrics.contentType).send(body);
    });
  };
}
