import type { FastifyInstance } from 'fastify';
import type { ProducerDeps } from '../deps.js';
import { guardedErrors } from '../http/schemas.js';

const fleetStateSchema = {
  type: 'object',
  properties: {
    paused: { type: 'boolean' },
    queues: { type: 'array', items: { type: 'object', properties: { queue: { type: 'string' }, paused: { type: 'boolean' } } } },
  },
} as const;

const schema = { response: { 200: fleetStateSchema, ...guardedErrors() } };

/** The fleet-wide pause: paused when every image queue is. */
async function fleetState(deps: ProducerDeps) {
  const queues = await deps.jobs.imageQueues();
  return { paused: queues.length > 0 && queues.every((queue) => queue.paused), queues };
}

/**
 * GET /v1/fleet (read scope): whether the image queues are paused. POST /v1/fleet/pause and
 * /v1/fleet/resume (admin scope): BullMQ's queue pause on every image queue; workers take no new
 * image job while paused (active ones finish), finalize and webhooks go on.
 */
export function fleetControlRoutes(deps: ProducerDeps) {
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/v1/fleet', { config: { scope: 'read' }, schema }, async () => fleetState(deps));
    for (const action of ['pause', 'resume'] as const) {
      app.post(`/v1/fleet/${action}`, { config: { scope: 'admin' }, schema }, async (request) => {
        await deps.jobs.setImageQueuesPaused(action === 'pause');
        request.log.info({ action }, action === 'pause' ? 'fleet paused: no new image jobs start' : 'fleet resumed');
        return fleetState(deps);
      });
    }
  };
}
