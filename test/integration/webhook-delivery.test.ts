import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import { pinnedLookup } from '@imagefleet/worker';
import { startServices, type TestServices } from '../helpers/services.js';
import { startDeliveryBench, type DeliveryBench } from '../helpers/webhook-delivery.js';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.js';

/**
 * Delivery of batch webhooks by the worker's webhook job, on real Redis and real HTTP receivers:
 * signed per Standard Webhooks, no internal locations in the payload, the target vetted after DNS
 * with no connection made when refused, no redirect followed, at most 64 KiB of an answer read.
 */
let services: TestServices;
/** Receivers on loopback need WEBHOOK_ALLOW_PRIVATE; `strict` runs with the default policy. */
let open: DeliveryBench;
let strict: DeliveryBench;
const receivers: Receiver[] = [];

before(async () => {
  services = await startServices();
  open = await startDeliveryBench(services, { WEBHOOK_ALLOW_PRIVATE: 'true' });
  strict = await startDeliveryBench(services);
});

after(async () => {
  await Promise.all(receivers.map((receiver) => receiver.close()));
  await open?.close();
  await strict?.close();
  await services?.stop();
});

async function receiver(answer: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const started = await startReceiver(answer);
  receivers.push(started);
  return started;
}

test('a delivery is signed per Standard Webhooks: the receiver library verifies it with the batch secret', async () => {
  const hook = await receiver('ok');
  const { batchId, secret } = await open.finishedBatch(`${hook.url}/done`);
  assert.equal(await open.deliver(batchId), 'delivered');
  assert.equal(await open.webhookState(batchId), 'delivered');
  const [delivery] = hook.requests;
  assert.ok(delivery);
  assert.match(String(delivery.headers['webhook-signature']), /^v1,[A-Za-z0-9+/]+=*$/);
  const payload = new Webhook(secret).verify(delivery.body, delivery.headers as Record<string, string>) as { event: string; batch: { id: string; state: string }; results: string };
  assert.deepEqual([payload.event, payload.batch.id, payload.batch.state, payload.results], ['batch.finished', batchId, 'completed', `/v1/batches/${batchId}/results`]);
  // No storage location in the payload, and the secret itself is never sent.
  assert.doesNotMatch(delivery.body, /s3:\/\/|results\/run-|manifest\.jsonl/);
  assert.ok(!delivery.body.includes(secret.slice(6)));
  // Another secret, or a changed body, does not verify.
  assert.throws(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`).verify(delivery.body, delivery.headers as Record<string, string>));
  assert.throws(() => new Webhook(secret).verify(delivery.body.replace('completed', 'cancelled'), delivery.headers as Record<string, string>));
});

test('a host name that resolves to loopback is refused at delivery, before any connection', async () => {
  const target = await receiver('ok');
  const { batchId } = await strict.finishedBatch(`http://localhost:${target.port}/hook`);
  assert.equal(await strict.deliver(batchId, { attempt: 1, attempts: 5 }), 'failed', 'a refused target is not retried');
  assert.equal(await strict.webhookState(batchId), 'failed');
  assert.equal(target.connections, 0);
});

test('the connection goes to the vetted address, whatever DNS would answer for the name', async () => {
  const target = await receiver('ok');
  const agent = new Agent({ connect: { lookup: pinnedLookup({ address: '127.0.0.1', family: 4 }) } });
  try {
    const response = await request(`http://rebound.invalid:${target.port}/hook`, { method: 'POST', body: '{}', dispatcher: agent });
    await response.body.text();
    assert.equal(response.statusCode, 200);
    assert.equal(target.requests[0]?.headers.host, `rebound.invalid:${target.port}`);
  } finally {
    await agent.close();
  }
});

test('a redirect is not followed: the delivery fails and the redirect target gets nothing', async () => {
  const elsewhere = await receiver('ok');
  const redirecting = await receiver({ redirectTo: `${elsewhere.url}/stolen` });
  const { batchId } = await open.finishedBatch(`${redirecting.url}/hook`);
  assert.equal(await open.deliver(batchId, { attempt: 1, attempts: 2 }), 'retry');
  assert.equal(await open.webhookState(batchId), 'pending');
  assert.equal(await open.deliver(batchId, { attempt: 2, attempts: 2 }), 'failed');
  assert.equal(await open.webhookState(batchId), 'failed');
  assert.equal(redirecting.requests.length, 2);
  assert.equal(elsewhere.connections, 0);
});

for (const status of [200, 500]) {
  test(`a ${status} answer with a 100 MB body: at most 64 KiB is read, the delivery counts by its status`, async () => {
    const huge = await receiver({ status, bodyBytes: 100 * 1024 * 1024 });
    const { batchId } = await open.finishedBatch(`${huge.url}/hook`);
    const started = Date.now();
    assert.equal(await open.deliver(batchId), status === 200 ? 'delivered' : 'failed');
    assert.equal(await open.webhookState(batchId), status === 200 ? 'delivered' : 'failed');
    await huge.answerClosed();
    // The answer's connection is dropped: what the receiver got rid of is what socket buffers
    // hold (a few MB at most), not the 100 MB, and it took well under the 5 s timeout.
    assert.ok(huge.bytesSent < 16 * 1024 * 1024, `the receiver sent ${huge.bytesSent} bytes`);
    assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
  });
}
