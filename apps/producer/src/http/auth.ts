import type { FastifyInstance, FastifyRequest } from 'fastify';
import '@fastify/cookie';
import { hasScope, type ApiKey, type ApiKeyScope, type ApiKeyStore } from '@imagefleet/jobs';
import { ApiError } from '../http-errors.js';

/** Who is calling: the tenant whose batches they see (none with AUTH=off), and whether they see every tenant's. */
export interface Caller {
  key: ApiKey | undefined;
  tenant: string | undefined;
  seesAll: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every route of its scope; undefined = no valid key. */
    caller?: Caller;
  }
  interface FastifyContextConfig {
    /** The scope a key needs for this route. */
    scope?: ApiKeyScope;
  }
}

const OPEN: Caller = { key: undefined, tenant: undefined, seesAll: true };

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return match?.[1];
}

/** The caller of a request that passed the auth hooks. */
export function callerOf(request: FastifyRequest): Caller {
  return request.caller ?? OPEN;
}

/**
 * Bearer API keys on every route of the (encapsulated) scope it is installed in. Two steps so
 * that the rate limit, which runs in between, counts a request by its verified key or, without
 * one, by its address: onRequest looks the key up, preParsing refuses (401 without a valid key,
 * 403 without the route's scope) before any body is read.
 */
export interface AuthOptions {
  enabled: boolean;
  keys: ApiKeyStore;
  /** A cookie that may carry the token instead of the header (pages a browser opens itself: /admin/queues). */
  cookie?: string;
  /** The scope every route of this scope needs when its own config names none. */
  scope?: ApiKeyScope;
}

export function installAuth(app: FastifyInstance, options: AuthOptions): void {
  app.addHook('onRequest', async (request) => {
    if (!options.enabled) {
      request.caller = OPEN;
      return;
    }
    const token = bearerToken(request.headers.authorization) ?? (options.cookie === undefined ? undefined : request.cookies[options.cookie]);
    const key = token === undefined ? undefined : await options.keys.verify(token);
    request.caller = key && { key, tenant: key.id, seesAll: hasScope(key, 'admin') };
  });
  app.addHook('preParsing', async (request, reply) => {
    if (!options.enabled || request.method === 'OPTIONS') return;
    const key = request.caller?.key;
    if (!key) {
      reply.header('www-authenticate', 'Bearer');
      throw new ApiError(401, 'unauthorized', 'a valid API key is required: Authorization: Bearer <token> (imagefleet keys create)');
    }
    const scope = request.routeOptions.config.scope ?? options.scope;
    if (scope && !hasScope(key, scope)) throw new ApiError(403, 'forbidden', `this API key lacks the "${scope}" scope`);
  });
}
