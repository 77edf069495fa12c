import { Redis } from 'ioredis';
import { UnavailableError } from '@imagefleet/core';

/**
 * The patient connection, for workers and background work (listing, reconciling). BullMQ
 * workers require maxRetriesPerRequest: null: commands wait out reconnects instead of failing.
 */
export function createRedis(url: string, name: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, connectionName: name, lazyConnect: false });
}

/** How long a fail-fast command waits for Redis (first connect, reconnect or a frozen server). */
export const FAIL_FAST_WAIT_MS = 1000;

/**
 * The fail-fast connection, for request paths: while Redis is unreachable a command fails
 * within about FAIL_FAST_WAIT_MS instead of hanging, so the API can answer 503 at once.
 * Offline queue off (a command sent while disconnected fails immediately), one retry per
 * request, short connect and command timeouts; it keeps reconnecting in the background, so
 * requests succeed again as soon as Redis is back.
 */
export function createFailFastRedis(url: string, name: string): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: FAIL_FAST_WAIT_MS,
    commandTimeout: FAIL_FAST_WAIT_MS,
    retryStrategy: (times) => Math.min(times * 100, 1000),
  });
  // Without a listener ioredis prints every failed reconnect; the callers see the errors.
  redis.on('error', () => undefined);
  return redis;
}

/** ioredis' and BullMQ's words for a command that could not reach Redis. */
const UNREACHABLE = /Stream isn't writeable|enableOfflineQueue|Connection is closed|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|^LOADING|^READONLY/;

/** Whether an error (or one of its causes) means Redis cannot be reached right now. */
export function isRedisUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof UnavailableError || current.name === 'MaxRetriesPerRequestError' || UNREACHABLE.test(current.message)) return true;
    current = current.cause;
  }
  return false;
}

/** The error to throw for an unreachable Redis: an UnavailableError (HTTP 503, Retry-After). */
export function redisUnavailable(error: unknown): UnavailableError {
  if (error instanceof UnavailableError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new UnavailableError('redis', `Redis cannot be reached: ${message}`, 2, { cause: error });
}

/**
 * Before a command on a connection that is (re)connecting, waits up to `timeoutMs` for it to
 * become ready, so that a fresh process or a short blip does not fail requests; after that the
 * command is sent and fails fast.
 */
export async function whenReady(redis: Redis, timeoutMs = FAIL_FAST_WAIT_MS): Promise<void> {
  if (redis.status === 'ready' || redis.status === 'end' || redis.status === 'wait') return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    redis.once('ready', done);
  });
}

/**
 * Runs Redis work; on a fail-fast connection it first waits briefly for a reconnect and maps
 * unreachability to UnavailableError (503 + Retry-After at the API).
 */
export async function runFailFast<T>(redis: Redis, failFast: boolean | undefined, work: () => Promise<T>): Promise<T> {
  if (!failFast) return work();
  await whenReady(redis);
  try {
    return await work();
  } catch (error) {
    throw isRedisUnavailable(error) ? redisUnavailable(error) : error;
  }
}

/** Resolves when Redis answers PING within the timeout; rejects otherwise. */
export async function pingRedis(redis: Redis, timeoutMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
