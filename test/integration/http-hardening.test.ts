import { request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createLogger, type Config } from '@imagefleet/core';
import { startProducer, type RunningProducer } from '@imagefleet/producer';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { freePort } from '../helpers/processes.js';
import { multipart, slowLoris } from '../helpers/http.js';
import { syntheticPhoto } from '../helpers/images.js';

let services: TestServices;
let config: Config;
let producer: RunningProducer;
let api: string;

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads'].map((bucket) => ensureBucket(services, bucket)));
  const port = await freePort();
  // AUTH=off: the limits then count per address, and the cross-origin upload matters most.
  config = testConfig(testEnv(services, { PORT: String(port), RATE_LIMIT_MAX: '5', RATE_LIMIT_WINDOW_MS: '60000', HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '3000', CORS_ORIGINS: 'https://app.example.com' }));
  producer = await startProducer(config, createLogger('test', 'silent'));
  api = producer.url;
});
after(async () => {
  await producer?.stop();
  if (services) {
    await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
    await services.stop();
  }
});

test('security headers on every answer, API and health alike', async () => {
  for (const path of ['/healthz', '/v1/batches/bnope']) {
    const response = await fetch(`${api}${path}`);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
    assert.equal(response.headers.get('x-frame-options'), 'SAMEORIGIN', path);
    assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'self'/, path);
    assert.match(response.headers.get('strict-transport-security') ?? '', /max-age=/, path);
  }
});

test('a cross-origin multipart upload is refused (403) unless its origin is in CORS_ORIGINS', async () => {
  const body = multipart([{ name: 'task', content: 'inspect' }, { name: 'file', filename: 'a.jpg', content: await syntheticPhoto(1, 64, 48) }]);
  const upload = (origin: string) => fetch(`${api}/v1/images`, { method: 'POST', headers: { ...body.headers, origin }, body: body.payload });
  const refused = await upload('https://evil.example');
  assert.equal(refused.status, 403);
  assert.equal(((await refused.json()) as { error: string }).error, 'forbidden');
  const allowed = await upload('https://app.example.com');
  assert.equal(allowed.status, 202);
  assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example.com');
  const preflight = await fetch(`${api}/v1/batches`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/);
});

test('a slow-loris connection (headers never finished) is closed within HTTP_HEADERS_TIMEOUT_MS plus the check interval', async () => {
  const { hostname, port } = new URL(api);
  const heldMs = await slowLoris(hostname, Number(port), { everyMs: 200, giveUpMs: 10_000 });
  assert.ok(heldMs < 4000, `held ${heldMs} ms (Node's defaults: 60 s, checked every 30 s)`);
  assert.ok(heldMs >= 900, `closed after ${heldMs} ms, not at once`);
});

test('the rate limit: past RATE_LIMIT_MAX a caller gets 429 with Retry-After, counted in Redis', async () => {
  const statuses: number[] = [];
  let limited: Response | undefined;
  for (let i = 0; i < 8; i++) {
    const response = await fetch(`${api}/v1/batches/bnope`);
    statuses.push(response.status);
    if (response.status === 429) limited = response;
  }
  assert.ok(statuses.slice(0, 3).every((status) => status === 404), statuses.join(','));
  assert.equal(statuses.at(-1), 429, statuses.join(','));
  assert.ok(limited);
  assert.ok(Number(limited.headers.get('retry-after')) > 0);
  assert.equal(((await limited.json()) as { error: string }).error, 'rate_limited');
  const redis = new Redis(services.redisUrl);
  try {
    assert.ok((await redis.keys(`${config.queuePrefix}:ratelimit:*`)).length > 0, 'the count lives in the shared Redis');
  } finally {
    redis.disconnect();
  }
  assert.equal((await fetch(`${api}/healthz`)).status, 200, 'health checks are not limited');
});

/** A GET with a Host header of our choosing (fetch does not let a caller set Host). */
function getWithHost(url: string, host: string, origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { headers: { host, origin } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end();
  });
}

test('AUTH off on a loopback HOST: a request addressed to another name (DNS rebinding) is refused', async () => {
  const { port } = new URL(api);
  assert.equal(await getWithHost(`${api}/v1/batches/bnope`, `evil.example:${port}`, `http://evil.example:${port}`), 403);
  // Loopback names pass this check (the earlier rate-limit test may have used up this address's quota: 429, not 403).
  assert.notEqual(await getWithHost(`${api}/v1/batches/bnope`, `localhost:${port}`, `http://localhost:${port}`), 403);
  assert.notEqual(await getWithHost(`${api}/v1/batches/bnope`, `127.0.0.1:${port}`, `http://127.0.0.1:${port}`), 403);
});
