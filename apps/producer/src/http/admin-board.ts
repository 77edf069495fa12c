import type { FastifyInstance } from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { adminQueues } from '@imagefleet/jobs';
import type { ProducerDeps } from '../deps.js';
import { installAuth } from './auth.js';
import { refuseCrossOrigin, refuseRebinding, registerRateLimit } from './hardening.js';
import { guardedErrors } from './schemas.js';

type AdminQueue = Awaited<ReturnType<typeof adminQueues>>[number];

export const ADMIN_BOARD_PATH = '/admin/queues';
/** The cookie that carries an admin key to /admin/queues, which a browser opens without our header. */
export const ADMIN_COOKIE = 'imagefleet_admin';

/**
 * bull-board (the BullMQ queue UI) at /admin/queues, for keys with the admin scope. Its page and
 * its own API calls come from the browser without an Authorization header, so the key may also
 * come in the ADMIN_COOKIE, set by POST /v1/admin/session (HttpOnly, SameSite=Strict, this path only).
 * Every queue is listed, the per-model ones from the board's first API call on (read from the
 * model-queues set then, so a producer mounts the board before its Redis connection is up).
 */
export function adminBoard(deps: ProducerDeps) {
  return async function register(app: FastifyInstance): Promise<void> {
    refuseCrossOrigin(app, deps.config);
    refuseRebinding(app, deps.config);
    installAuth(app, { enabled: deps.config.auth, keys: deps.apiKeys, cookie: ADMIN_COOKIE, scope: 'admin' });
    await registerRateLimit(app, deps.config, deps.redis);
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(ADMIN_BOARD_PATH);
    const shown = new Set<string>();
    const unshown = (queues: AdminQueue[]) => {
      const fresh = queues.filter((queue) => !shown.has(queue.name));
      for (const queue of fresh) shown.add(queue.name);
      return fresh.map((queue) => new BullMQAdapter(queue));
    };
    const adapters = async () => unshown(await adminQueues(deps.queues, deps.redis));
    // Mounted without asking Redis (the producer's connection may not be up yet at start): the
    // fixed queues now; the model queues join on the board's first API call, as any model queue
    // first used after the mount does (the UI polls it): one SMEMBERS per call, queues already
    // shown untouched.
    const { images, vlm, finalize, webhooks } = deps.queues;
    const board = createBullBoard({ queues: unshown([images, vlm, finalize, webhooks]), serverAdapter, options: { uiConfig: { boardTitle: 'imagefleet' } } });
    app.addHook('preHandler', async (request) => {
      if (!request.url.startsWith(`${ADMIN_BOARD_PATH}/api/`)) return;
      const fresh = await adapters().catch((error: unknown) => (request.log.warn({ err: error }, 'bull-board: the model queues could not be read; the board shows the ones it knows'), []));
      if (fresh.length > 0) board.setQueues(fresh);
    });
    await app.register(serverAdapter.registerPlugin(), { prefix: ADMIN_BOARD_PATH });
  };
}

/** POST /v1/admin/session puts the caller's admin key in the board's cookie; DELETE takes it out. */
export function adminSessionRoutes() {
  return async function register(app: FastifyInstance): Promise<void> {
    const schema = { response: { 204: { type: 'null', description: 'the cookie is set (POST) or cleared (DELETE)' }, ...guardedErrors() } };
    app.post('/v1/admin/session', { config: { scope: 'admin' }, schema }, async (request, reply) => {
      const token = /^Bearer +(\S+)/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
      return reply
        .setCookie(ADMIN_COOKIE, token, { path: ADMIN_BOARD_PATH, httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https' })
        .code(204)
        .send();
    });
    app.delete('/v1/admin/session', { config: { scope: 'admin' }, schema }, async (_request, reply) => reply.clearCookie(ADMIN_COOKIE, { path: ADMIN_BOARD_PATH }).code(204).send());
  };
}
