import type { FastifyInstance } from 'fastify';
import { fleetModels } from '@imagefleet/jobs';
import type { ProducerDeps } from '../deps.js';
import { guardedErrors } from '../http/schemas.js';

const workerSchema = {
  type: 'object',
  properties: {
    workerId: { type: 'string' },
    modelId: { type: 'string' },
    engine: { type: 'string' },
    device: { type: 'string' },
    slots: { type: 'integer' },
    imagesPerSecond: { type: 'number' },
    jobsInFlight: { type: 'integer' },
    lastSeen: { type: 'string' },
  },
} as const;

const modelSchema = {
  type: 'object',
  properties: {
    modelId: { type: 'string' },
    workers: { type: 'array', items: workerSchema },
    totals: { type: 'object', properties: { workers: { type: 'integer' }, slots: { type: 'integer' }, imagesPerSecond: { type: 'number' } } },
    queue: { type: 'object', properties: { waiting: { type: 'integer' }, active: { type: 'integer' } } },
  },
} as const;

/**
 * GET /v1/models: the models the fleet serves now (from live worker heartbeats), each with its
 * workers, totals and own queue; a model no worker serves is listed while jobs wait for it.
 */
export function fleetModelRoutes(deps: ProducerDeps) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.get(
      '/v1/models',
      { config: { scope: 'read' }, schema: { response: { 200: { type: 'object', properties: { models: { type: 'array', items: modelSchema } } }, ...guardedErrors() } } },
      async () => {
        const [heartbeats, queues] = await Promise.all([deps.workers.live(), deps.jobs.counts()]);
        return { models: fleetModels(heartbeats, queues) };
      },
    );
  };
}
