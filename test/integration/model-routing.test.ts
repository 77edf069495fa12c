import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BatchStatus } from '@imagefleet/core';
import type { FleetModel } from '@imagefleet/jobs';
import { StoreRegistry } from '@imagefleet/storage';
import { batchStatus, startProducerWithServices, type ProducerWithServices } from '../helpers/producer.js';
import { multipart } from '../helpers/http.js';
import { syntheticPhoto } from '../helpers/images.js';
import { waitFor } from '../helpers/processes.js';

/** Routing without model workers: validation, the batch id, the model's queue, counts, metrics and the waits-for-a-worker status. */
let fixture: ProducerWithServices;

before(async () => {
  fixture = await startProducerWithServices(['results', 'uploads', 'photos']);
});
after(async () => {
  await fixture?.stop();
});

const keys = (count: number, first = 0) => ({ keys: Array.from({ length: count }, (_, i) => `p/${first + i}.jpg`), bucket: 'photos' });

async function post(body: Record<string, unknown>) {
  return fixture.producer.app.inject({ method: 'POST', url: '/v1/batches', payload: body });
}

async function upload(fields: Record<string, string>) {
  const body = multipart([...Object.entries(fields).map(([name, content]) => ({ name, content })), { name: 'file', filename: 'a.jpg', content: await syntheticPhoto(1, 64, 48) }]);
  return fixture.producer.app.inject({ method: 'POST', url: '/v1/images', payload: body.payload, headers: body.headers });
}

async function models(): Promise<FleetModel[]> {
  const response = await fixture.producer.app.inject({ url: '/v1/models' });
  assert.equal(response.statusCode, 200, response.body);
  return response.json<{ models: FleetModel[] }>().models;
}

/** A batch whose listing is done (its jobs are in their queue). */
async function listed(batchId: string): Promise<BatchStatus> {
  let status: BatchStatus | undefined;
  await waitFor(async () => (status = await batchStatus(fixture.producer, batchId)).state === 'running', 30_000, `batch ${batchId} listed`);
  return status!;
}

test('a bad model id and a model for a pixel task are 400s naming the field, for batches and uploads', async () => {
  for (const model of ['has space', 'a/b', '', 'x'.repeat(101)]) {
    const response = await post({ task: 'caption', source: keys(1), model });
    assert.equal(response.statusCode, 400, model);
    assert.equal(response.json().error, 'bad_request');
    assert.match(response.json().message, /^model must be a model id/);
    const uploaded = await upload({ task: 'caption', model });
    assert.equal(uploaded.statusCode, 400, uploaded.body);
    assert.match(uploaded.json().message, /^model must be a model id/);
  }
  assert.equal((await post({ task: 'caption', source: keys(1), model: 7 })).statusCode, 400);
  const pixel = await post({ task: 'inspect', source: keys(1), model: 'alpha-1' });
  assert.equal(pixel.statusCode, 400);
  assert.match(pixel.json().message, /model applies to model tasks only; inspect is a pixel task/);
  const pixelUpload = await upload({ task: 'inspect', model: 'alpha-1' });
  assert.equal(pixelUpload.statusCode, 400);
  assert.match(pixelUpload.json().message, /model applies to model tasks only/);
});

test('the model is part of the batch id; the same post through the same model is the same batch', async () => {
  const source = keys(2, 100);
  const plain = (await post({ task: 'caption', source })).json<{ batchId: string }>().batchId;
  const alpha = await post({ task: 'caption', source, model: 'alpha-1' });
  const beta = await post({ task: 'caption', source, model: 'beta-2' });
  assert.equal(alpha.statusCode, 202);
  assert.equal(new Set([plain, alpha.json().batchId, beta.json().batchId]).size, 3);
  const again = await post({ task: 'caption', source, model: 'alpha-1' });
  assert.deepEqual(again.json(), { batchId: alpha.json().batchId, created: false });
  assert.equal((await batchStatus(fixture.producer, plain)).model, undefined);
  assert.equal((await batchStatus(fixture.producer, beta.json().batchId)).model, 'beta-2');
});

/** Jobs no worker has taken: fair share keeps them in BullMQ's prioritized set. */
const waitingIn = (counts: { wait: number; prioritized: number }) => counts.wait + counts.prioritized;
const sharedWaiting = async () => waitingIn((await fixture.producer.deps.jobs.counts()).find((entry) => entry.queue === 'vlm')!.counts);

test('a batch naming a model nobody serves: accepted, its jobs in that model queue, status waits for a worker', async () => {
  const sharedBefore = await sharedWaiting();
  const response = await post({ task: 'caption', source: keys(5, 200), model: 'gamma:7b' });
  assert.equal(response.statusCode, 202, response.body);
  const batchId = response.json<{ batchId: string }>().batchId;
  const status = await listed(batchId);
  assert.equal(status.model, 'gamma:7b');
  assert.equal(status.waitingFor, 'worker');
  assert.match(status.detail ?? '', /no live worker serves model gamma:7b \(no worker with a model is live\)/);

  // The listing shows the same, item by item.
  const page = (await fixture.producer.app.inject({ url: '/v1/batches?limit=500' })).json<{ batches: BatchStatus[] }>();
  const item = page.batches.find((batch) => batch.id === batchId)!;
  assert.deepEqual([item.model, item.waitingFor], ['gamma:7b', 'worker']);
  const unrouted = page.batches.filter((batch) => batch.model === undefined);
  assert.ok(unrouted.length > 0 && unrouted.every((batch) => batch.waitingFor !== 'worker'), JSON.stringify(unrouted));

  // Its own queue (':' written '+'), counted by the facade, the sampled metrics and GET /v1/models.
  const counts = await fixture.producer.deps.jobs.counts();
  const gamma = counts.find((entry) => entry.model === 'gamma:7b');
  assert.equal(gamma?.queue, 'vlm-gamma+7b');
  assert.equal(waitingIn(gamma!.counts), 5);
  assert.equal(await sharedWaiting(), sharedBefore, 'nothing went to the shared model queue');
  await fixture.producer.sampler.sample();
  const metrics = (await fixture.producer.app.inject({ url: '/metrics' })).body;
  assert.match(metrics, /imagefleet_queue_jobs\{queue="vlm-gamma\+7b",state="prioritized"[^}]*\} 5\b/);
  const listedModel = (await models()).find((model) => model.modelId === 'gamma:7b');
  assert.deepEqual(listedModel, { modelId: 'gamma:7b', workers: [], totals: { workers: 0, slots: 0, imagesPerSecond: 0 }, queue: { waiting: 5, active: 0 } });

  // Cancelling removes them from that queue.
  const cancelled = await fixture.producer.app.inject({ method: 'DELETE', url: `/v1/batches/${batchId}` });
  assert.equal(cancelled.json<{ removed: number }>().removed, 5);
  assert.equal(waitingIn((await fixture.producer.deps.jobs.counts()).find((entry) => entry.model === 'gamma:7b')!.counts), 0);
  assert.equal((await models()).some((model) => model.modelId === 'gamma:7b'), false, 'an empty queue of a model nobody serves is not listed');
});

test('an upload naming a model: its job waits in that model queue and GET /v1/jobs/:id finds it there', async () => {
  const response = await upload({ task: 'caption', model: 'delta-1' });
  assert.equal(response.statusCode, 202, response.body);
  const { jobId, batchId } = response.json<{ jobId: string; batchId: string }>();
  await listed(batchId);
  const job = await fixture.producer.app.inject({ url: `/v1/jobs/${jobId}` });
  assert.equal(job.json().state, 'waiting', job.body);
  assert.equal(waitingIn((await fixture.producer.deps.jobs.counts()).find((entry) => entry.model === 'delta-1')!.counts), 1);
  assert.equal((await batchStatus(fixture.producer, batchId)).waitingFor, 'worker');
});

test('imagefleet submit --model posts the model; status shows it and the wait; imagefleet fleet shows the model queue', async () => {
  const stores = new StoreRegistry(fixture.services.s3);
  try {
    for (const key of ['cli/a.jpg', 'cli/b.jpg']) await stores.open('s3://photos').put(key, await syntheticPhoto(2, 64, 48));
  } finally {
    stores.close();
  }
  const address = await fixture.producer.app.listen({ host: '127.0.0.1', port: 0 });
  const cli = fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url));
  const run = (args: string[]) => promisify(execFile)(process.execPath, [cli, ...args, '--api', address], { encoding: 'utf8' });
  const { stdout } = await run(['submit', 's3://photos/cli/', '--task', 'tagging', '--model', 'epsilon-3']);
  const batchId = /^batch (\S+) submitted/.exec(stdout)?.[1];
  assert.ok(batchId, stdout);
  assert.equal((await listed(batchId)).model, 'epsilon-3');
  const shown = (await run(['status', batchId])).stdout.split('\n');
  assert.equal(shown[0], `${batchId} running (model epsilon-3)`);
  assert.match(shown[2]!, /^waiting for worker: no live worker serves model epsilon-3/);
  const table = (await run(['fleet'])).stdout.trimEnd().split('\n').map((line) => line.split(/\s{2,}/));
  assert.deepEqual(table[0]!.slice(-2), ['QUEUED', 'RUNNING']);
  assert.deepEqual(table.find((row) => row[0] === 'epsilon-3'), ['epsilon-3', '(0 workers)', '0', '0', '2', '0']);
});
