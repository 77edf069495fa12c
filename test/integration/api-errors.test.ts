import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { createLogger, ImagefleetError, loadConfig, UnavailableError, type Config } from '@imagefleet/core';
import { buildProducerApp, closeProducerDeps, createProducerDeps, redisOutageRetryAfter, type ProducerDeps } from '@imagefleet/producer';
import { deleteRedisPrefix } from '../helpers/services.js';
import { freePort, spawnLogged, stopProcess, waitFor } from '../helpers/processes.js';

/**
 * The API's one error handler: a 5xx logs the request with the Error object (type, stack, causes);
 * 4xx answers stay as they are; Redis out of reach is a 503 with Retry-After, answered fast, and
 * the API recovers by itself when Redis returns. Runs its own redis-server, which it stops.
 */

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  req?: { method?: string; url?: string };
  res?: { statusCode?: number };
  err?: { type?: string; message?: string; stack?: string };
  [field: string]: unknown;
}

/** redis-server on a fixed port (so it can come back where the app expects it). */
async function startRedis(port: number) {
  const child = spawnLogged('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  const probe = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited: ${child.output()}`);
      return probe.connect().then(() => true, () => false);
    }, 10_000, 'redis-server');
  } finally {
    probe.disconnect();
  }
  return { child, stop: () => stopProcess(child, 'SIGTERM', 5000) };
}

/** Resolves with the outcome, or with 'timeout' after ms (a request that hangs must not hang the test). */
function within<T>(ms: number, work: Promise<T>): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([work, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]).finally(() => clearTimeout(timer));
}

let redisPort: number;
let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
let config: Config;
let deps: ProducerDeps;
let app: FastifyInstance;
let localDir: string;
const lines: LogLine[] = [];

before(async () => {
  redisPort = await freePort();
  redis = await startRedis(redisPort);
  localDir = mkdtempSync(join(tmpdir(), 'imagefleet-api-errors-'));
  config = loadConfig({
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    QUEUE_PREFIX: `apierr_${randomUUID().slice(0, 8)}`,
    // Beside the source folder: the uploads and results directories are never a source.
    RESULTS_URL: join(tmpdir(), `${localDir.split('/').pop()}-results`),
    UPLOADS_URL: join(tmpdir(), `${localDir.split('/').pop()}-uploads`),
    LOCAL_SOURCE_ROOTS: localDir,
    QUEUE_SAMPLE_MS: '3600000',
    LOG_LEVEL: 'info',
    // The error handler is under test here, not API keys (test/integration/auth.test.ts).
    AUTH: 'off',
  });
  // The producer's own logger (the app's loggerInstance is its child), written to a stream we read.
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text.trim() !== '') lines.push(JSON.parse(text) as LogLine);
      done();
    },
  });
  deps = createProducerDeps(config, createLogger('api-errors-test', 'info', sink));
  ({ app } = await buildProducerApp(deps));
  await app.ready();
});

after(async () => {
  // Redis must be back for the connections to close cleanly (the outage test brings it back too).
  if (redis && (redis.child.exitCode !== null || redis.child.signalCode !== null)) redis = await startRedis(redisPort).catch(() => undefined);
  await within(10_000, (async () => {
    await app?.close();
    if (deps) await closeProducerDeps(deps);
  })());
  if (redis) {
    await deleteRedisPrefix(`redis://127.0.0.1:${redisPort}`, config.queuePrefix).catch(() => 0);
    await redis.stop();
  }
  for (const dir of [localDir, config.resultsUrl, config.uploadsUrl]) rmSync(dir, { recursive: true, force: true });
});

describe('the API error handler', () => {
  test('a 500 from a route logs the Error object (stack, cause) with the request, and answers without internals', async () => {
    const registry = deps.batches as unknown as { get: (id: string) => Promise<unknown> };
    const original = registry.get;
    registry.get = async () => {
      throw new Error('the registry exploded', { cause: new Error('root cause: a broken record') });
    };
    const before = lines.length;
    let response;
    try {
      response = await app.inject({ method: 'GET', url: '/v1/batches/bexploding' });
    } finally {
      registry.get = original;
    }
    assert.equal(response.statusCode, 500, response.body);
    assert.deepEqual(response.json(), { error: 'internal', message: 'internal error; see the producer log' });
    assert.doesNotMatch(response.body, /exploded|root cause/);

    const logged = lines.slice(before).filter((line) => line.msg === 'request failed');
    assert.equal(logged.length, 1, JSON.stringify(lines.slice(before)));
    const line = logged[0]!;
    assert.equal(line.level, 50, 'logged at error level');
    // The request: method, url and the request id Fastify binds to request.log.
    assert.equal(line.req?.method, 'GET');
    assert.equal(line.req?.url, '/v1/batches/bexploding');
    assert.ok(typeof line.reqId === 'string' && line.reqId !== '', 'no request id');
    const completed = () => lines.slice(before).find((other) => other.msg === 'request completed' && other.reqId === line.reqId);
    await waitFor(() => completed() !== undefined, 2000, `the 'request completed' line of ${line.reqId}`);
    assert.equal(completed()?.res?.statusCode, 500, 'the request id does not lead to the 500 answer');
    // The Error object, not its message: type, stack with frames, and the cause.
    assert.equal(line.err?.type, 'Error');
    assert.match(line.err?.message ?? '', /the registry exploded/);
    assert.match(line.err?.stack ?? '', /^Error: the registry exploded\n\s+at /);
    assert.match(line.err?.stack ?? '', /caused by: Error: root cause: a broken record/);
  });

  test('4xx answers are unchanged and not logged as errors', async () => {
    const before = lines.length;
    const missing = await app.inject({ method: 'GET', url: '/v1/batches/bnope' });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), { error: 'not_found', message: 'batch bnope not found' });
    const invalid = await app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'inspect' } });
    assert.equal(invalid.statusCode, 400);
    assert.equal(invalid.json().error, 'bad_request');
    assert.match(invalid.json().message, /required property 'source'/);
    const badId = await app.inject({ method: 'GET', url: '/v1/batches/not%20an%20id' });
    assert.equal(badId.statusCode, 400);
    assert.deepEqual(lines.slice(before).filter((line) => line.level >= 50), []);
  });

  test('Redis outages are told apart from other failures', () => {
    const closed = new Error('Connection is closed.');
    const retries = Object.assign(new Error('Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.'), { name: 'MaxRetriesPerRequestError' });
    const offline = new Error("Stream isn't writeable and enableOfflineQueue options is false");
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    for (const error of [closed, retries, offline, refused, new Error('could not create the batch', { cause: closed })]) {
      assert.equal(redisOutageRetryAfter(error), 2, error.message);
    }
    assert.equal(redisOutageRetryAfter(new UnavailableError('redis', 'Redis cannot be reached', 5)), 5);
    const storage = new ImagefleetError('storage_error', 'S3 GET a.jpg failed: Error: read ECONNRESET', { cause: new Error('read ECONNRESET') });
    for (const error of [storage, new Error('boom'), new TypeError('x is undefined'), 'Connection is closed', undefined]) {
      assert.equal(redisOutageRetryAfter(error), undefined, String(error));
    }
  });

  test('Redis out of reach: 503 with Retry-After within 2 s, and the API recovers when it returns', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/v1/batches/bnope' })).statusCode, 404, 'Redis answers before the outage');
    await redis!.stop();
    try {
      const requests: [string, () => Promise<LightMyRequestResponse>][] = [
        ['GET /v1/batches/:id', () => app.inject({ method: 'GET', url: '/v1/batches/bnope' })],
        ['POST /v1/batches', () => app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'inspect', source: { local: { path: localDir } } } })],
        ['DELETE /v1/batches/:id', () => app.inject({ method: 'DELETE', url: '/v1/batches/bnope' })],
      ];
      for (const [name, send] of requests) {
        const before = lines.length;
        const started = Date.now();
        const response = await within(5000, send());
        const tookMs = Date.now() - started;
        assert.notEqual(response, 'timeout', `${name} did not answer within 5 s while Redis was down (the request path waits for Redis instead of failing fast)`);
        const answer = response as LightMyRequestResponse;
        assert.equal(answer.statusCode, 503, `${name}: ${answer.body}`);
        assert.ok(tookMs < 2000, `${name} took ${tookMs} ms`);
        assert.equal(answer.headers['retry-after'], '2');
        assert.deepEqual(answer.json(), { error: 'unavailable', message: 'Redis is unreachable; retry later' });
        const logged = lines.slice(before).find((line) => line.msg === 'Redis is unreachable; answered 503');
        assert.ok(logged?.err?.stack, `${name}: the 503 is not logged with its Error`);
      }
    } finally {
      redis = await startRedis(redisPort);
    }
    // Everything resumes by itself: no restart of the API.
    await waitFor(async () => (await within(2000, app.inject({ method: 'GET', url: '/v1/batches/bnope' })).then((r) => r !== 'timeout' && r.statusCode === 404)), 15_000, 'the API to answer from Redis again');
    const created = await app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'inspect', source: { local: { path: localDir } } } });
    assert.equal(created.statusCode, 202, created.body);
  });
});
