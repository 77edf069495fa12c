import type { FastifyInstance } from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { adminQueues } from '@imagefleet/jobs';
import type { ProducerDeps } from '../deps.js';
import { installAuth } from './auth.js';
import { refuseCrossOrigin, refuseRebinding, registerRateLimit } from './hardening.js';
import { guardedErrors } from './schemas.js';

export const ADMIN_BOARD_PATH = '/admin/queues';
/** The cookie that carries an admin key to /admin/queues, which a browser opens without our header. */
export const ADMIN_COOKIE = 'imagefleet_admin';

/**
 * bull-board (the BullMQ queue UI) at /admin/queues, for keys with the admin scope. Its page and
 * its own API calls come from the browser without an Authorization header, so the key may also
 * come in the ADMIN_COOKIE, set by POST /v1/admin/session (HttpOnly, SameSite=Strict, this path only).
 */
export function adminBoard(deps: ProducerDeps) {
  return async function register(app: FastifyInstance): Promise<void> {
    refuseCrossOrigin(app, deps.config);
    refuseRebinding(app, deps.config);
    installAuth(app, { enabled: deps.config.auth, keys: deps.apiKeys, cookie: ADMIN_COOKIE, scope: 'admin' });
    await registerRateLimit(app, deps.config, deps.redis);
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(ADMIN_BOARD_PATH);
    createBullBoard({ queues: adminQueues(deps.queues).map((queue) => new BullMQAdapter(queue)), serverAdapter, options: { uiConfig: { boardTitle: 'imagefleet' } } });
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
