import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer, type TestProducer } from '../helpers/producer.js';
import { REFUSED_WEBHOOKS } from '../helpers/webhook-cases.js';

/** POST /v1/batches with a webhook: refused targets are a 400 naming `webhook`; a signing secret shown once. */
let services: TestServices;
let producer: TestProducer;

before(async () => {
  services = await startServices();
  await ensureBucket(services, 'photos');
  producer = await startTestProducer(testConfig(testEnv(services)));
});

after(async () => {
  await producer?.close();
  if (services) {
    await deleteRedisPrefix(services.redisUrl, producer.deps.config.queuePrefix);
    await services.stop();
  }
});

const post = (body: Record<string, unknown>) => producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'inspect', source: { keys: ['a.jpg'], bucket: 'photos' }, ...body } });

test('every refused spelling of a webhook target is a 400 naming the field, and creates no batch', async () => {
  for (const [webhook, reason] of REFUSED_WEBHOOKS) {
    const response = await post({ webhook, batchId: 'refused_hook' });
    assert.equal(response.statusCode, 400, `${webhook}: ${response.body}`);
    const body = response.json<{ error: string; message: string }>();
    assert.equal(body.error, 'bad_request', webhook);
    assert.match(body.message, /^webhook /, webhook);
    assert.match(body.message, reason, webhook);
  }
  assert.equal((await producer.app.inject({ url: '/v1/batches/refused_hook' })).statusCode, 404);
});

test('the signing secret is returned once, to the request that created the batch, and never in a status', async () => {
  const first = await post({ webhook: 'https://hooks.example.com/imagefleet', batchId: 'signed_hook' });
  assert.equal(first.statusCode, 202, first.body);
  const { created, webhookSecret } = first.json<{ created: boolean; webhookSecret?: string }>();
  assert.equal(created, true);
  assert.match(webhookSecret ?? '', /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.equal((await producer.deps.batches.get('signed_hook'))?.webhookSecret, webhookSecret);
  const again = await post({ webhook: 'https://hooks.example.com/imagefleet', batchId: 'signed_hook' });
  assert.deepEqual(again.json(), { batchId: 'signed_hook', created: false });
  for (const url of ['/v1/batches/signed_hook', '/metrics']) {
    const response = await producer.app.inject({ url });
    assert.ok(!response.body.includes(webhookSecret!.slice(6)), `${url} shows the secret`);
  }
  const cancelled = await producer.app.inject({ method: 'DELETE', url: '/v1/batches/signed_hook' });
  assert.ok(!cancelled.body.includes(webhookSecret!.slice(6)), 'DELETE shows the secret');
});

test('a batch without a webhook gets no secret', async () => {
  const response = await post({ batchId: 'no_hook' });
  assert.deepEqual(response.json(), { batchId: 'no_hook', created: true });
});
