import type { ServerOptions } from 'node:http';
import type { FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { isLoopbackHost, type Config } from '@imagefleet/core';
import type { Redis } from 'ioredis';
import { ApiError } from '../http-errors.js';

type TimeoutConfig = Pick<Config, 'httpHeadersTimeoutMs' | 'httpRequestTimeoutMs' | 'httpConnectionTimeoutMs' | 'httpKeepAliveTimeoutMs'>;

/** Timeouts that cut a slow or idle client off (a slow-loris holds no socket for long). */
export function serverTimeouts(config: TimeoutConfig): { connectionTimeout: number; keepAliveTimeout: number; requestTimeout: number; http: ServerOptions } {
  return {
    connectionTimeout: config.httpConnectionTimeoutMs,
    keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    requestTimeout: config.httpRequestTimeoutMs,
    // Node checks header and request deadlines on this interval (default 30 s): check every second.
    http: { headersTimeout: config.httpHeadersTimeoutMs, connectionsCheckingInterval: 1000 },
  };
}

/** Security headers on every answer (Content-Security-Policy: same-origin scripts only); CORS only for CORS_ORIGINS. */
export async function registerHeaders(app: FastifyInstance, config: Pick<Config, 'corsOrigins'>): Promise<void> {
  // Thumbnails reach the console as blob: URLs (fetched with the key's Authorization header).
  await app.register(helmet, { global: true, contentSecurityPolicy: { directives: { imgSrc: ["'self'", 'data:', 'blob:'] } } });
  if (config.corsOrigins.length > 0) {
    await app.register(cors, { origin: config.corsOrigins, methods: ['GET', 'POST', 'DELETE'], allowedHeaders: ['authorization', 'content-type'], maxAge: 600 });
  }
}

/**
 * A browser sends a cross-origin form post (multipart included) without asking first: any
 * request whose Origin is neither the API's own nor in CORS_ORIGINS is refused before anything runs.
 */
export function refuseCrossOrigin(app: FastifyInstance, config: Pick<Config, 'corsOrigins'>): void {
  app.addHook('onRequest', async (request) => {
    const origin = request.headers.origin;
    if (origin === undefined || origin === `${request.protocol}://${request.host}` || config.corsOrigins.includes(origin)) return;
    throw new ApiError(403, 'forbidden', 'cross-origin requests are not allowed (set CORS_ORIGINS to allow a browser origin)');
  });
}

/**
 * Without keys on a loopback HOST (AUTH=off, as `imagefleet up` runs) a web page could rebind its own name to
 * 127.0.0.1 and call the API as a same-origin page: such a server answers only requests addressed
 * to a loopback name.
 */
export function refuseRebinding(app: FastifyInstance, config: Pick<Config, 'auth' | 'host'>): void {
  if (config.auth || !isLoopbackHost(config.host)) return;
  app.addHook('onRequest', async (request) => {
    if (isLoopbackHost(request.hostname)) return;
    throw new ApiError(403, 'forbidden', 'with AUTH off this server answers only requests to localhost, 127.0.0.1 or [::1]');
  });
}

/**
 * Requests per API key (per address without one) per window, counted in Redis so that every
 * producer shares the count. While Redis is unreachable the limit is skipped: the request then
 * answers 503 anyway.
 */
export async function registerRateLimit(app: FastifyInstance, config: Pick<Config, 'rateLimitMax' | 'rateLimitWindowMs' | 'queuePrefix'>, redis: Redis): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    max: config.rateLimitMax,
    timeWindow: config.rateLimitWindowMs,
    redis,
    nameSpace: `${config.queuePrefix}:ratelimit:`,
    skipOnError: true,
    keyGenerator: (request) => (request.caller?.key ? `key:${request.caller.key.id}` : `ip:${request.ip}`),
    errorResponseBuilder: (_request, context) => new ApiError(429, 'rate_limited', `too many requests: at most ${context.max} per window; retry in ${context.after}`),
  });
}
