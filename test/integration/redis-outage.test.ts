import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Config } from '@imagefleet/core';
import { ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer, type TestProducer } from '../helpers/producer.js';
import { waitFor } from '../helpers/processes.js';
import { startRedisProcess, type RedisProcess } from '../helpers/redis-process.js';

/** While Redis is unreachable the API answers 503 with Retry-After at once, and works again when it returns. */
let services: TestServices;
let redis: RedisProcess;
let config: Config;
let producer: TestProducer;

before(async () => {
  services = await startServices();
  await ensureBucket(services, 'photos');
  // A Redis of this test's own, so that stopping it disturbs nothing else.
  redis = await startRedisProcess();
  config = testConfig({ ...testEnv(services), REDIS_URL: redis.url });
  producer = await startTestProducer(config);
});

after(async () => {
  await producer?.close();
  await redis?.stop();
  await services?.stop();
});

const post = (n: number) =>
  producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'inspect', source: { keys: [`r/${n}.jpg`], bucket: 'photos' } } });

/** Runs a request with a deadline of our own, so a hanging request fails the test instead of stalling it. */
async function timed(request: () => Promise<{ statusCode: number; headers: Record<string, unknown> }>, deadlineMs = 6000) {
  const started = Date.now();
  const response = await Promise.race([request(), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), deadlineMs).unref())]);
  return { response, ms: Date.now() - started };
}

test('POST /v1/batches answers 503 with Retry-After within 2 s while Redis is down, and 202 again once it is back', async () => {
  assert.equal((await post(1)).statusCode, 202);
  await redis.kill('SIGKILL');
  for (const n of [2, 3]) {
    const { response, ms } = await timed(() => post(n));
    assert.ok(response, 'no answer within 6 s');
    assert.equal(response.statusCode, 503);
    assert.ok(Number(response.headers['retry-after']) > 0, `retry-after ${String(response.headers['retry-after'])}`);
    assert.ok(ms < 2000, `answered after ${ms} ms`);
  }
  const status = await timed(() => producer.app.inject({ url: '/v1/batches/bnope' }));
  assert.equal(status.response?.statusCode, 503);
  assert.ok(status.ms < 2000, `answered after ${status.ms} ms`);
  await redis.restart();
  await waitFor(async () => (await post(4)).statusCode === 202, 15_000, 'POST to succeed after Redis returned');
});
