import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, deriveJobId, type Config, type ResultLine } from '@imagefleet/core';
import { startWorker, type RunningWorker } from '@imagefleet/worker';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer, waitForBatchEnd, type TestProducer } from '../helpers/producer.js';
import { syntheticPhoto } from '../helpers/images.js';
import { multipart } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';

let services: TestServices;
let config: Config;
let producer: TestProducer;
let localDir: string;

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
  localDir = mkdtempSync(join(tmpdir(), 'imagefleet-api-'));
  config = testConfig(testEnv(services, { LOCAL_SOURCE_ROOTS: localDir, UPLOAD_MAX_BYTES: '64KiB' }));
  producer = await startTestProducer(config);
});
after(async () => {
  await producer?.close();
  if (services) {
    await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
    await services.stop();
  }
  rmSync(localDir, { recursive: true, force: true });
});

function post(body: unknown) {
  return producer.app.inject({ method: 'POST', url: '/v1/batches', payload: body as object });
}

const badBatches: [string, unknown, RegExp][] = [
  ['no task', { source: { s3: { bucket: 'photos', prefix: '' } } }, /body must have required property 'task'/],
  ['unknown task', { task: 'paint', source: { s3: { bucket: 'photos' } } }, /body\/task must be equal to one of the allowed values/],
  ['no source', { task: 'inspect' }, /required property 'source'/],
  ['two sources', { task: 'inspect', source: { s3: { bucket: 'photos' }, keys: ['a'], bucket: 'photos' } }, /exactly one of/],
  ['bad bucket name', { task: 'inspect', source: { s3: { bucket: 'Bad_Bucket!' } } }, /source\.s3\.bucket must be a valid bucket name/],
  ['empty keys', { task: 'inspect', source: { keys: [], bucket: 'photos' } }, /source\.keys must be a non-empty array/],
  ['non-string key', { task: 'inspect', source: { keys: ['a.jpg', 7], bucket: 'photos' } }, /source\.keys\[1\] must be a string/],
  ['missing bucket', { task: 'inspect', source: { s3: { bucket: 'does-not-exist' } } }, /^source\.s3\.bucket cannot be read by this server$/],
  ['relative local path', { task: 'inspect', source: { local: { path: 'photos' } } }, /source\.local\.path must be an absolute directory path/],
  ['local path outside roots', { task: 'inspect', source: { local: { path: '/etc' } } }, /^source\.local\.path must be an existing directory inside the directories this server allows \(LOCAL_SOURCE_ROOTS\)$/],
  ['bad webhook', { task: 'inspect', source: { s3: { bucket: 'photos' } }, webhook: 'ftp://x' }, /^webhook must be an http or https URL/],
  ['unknown field', { task: 'inspect', source: { s3: { bucket: 'photos' } }, colour: 'red' }, /must NOT have additional properties/],
  ['custom with an open schema', { task: 'custom', source: { s3: { bucket: 'photos' } }, options: { prompt: 'Count apples', schema: { type: 'object' } } }, /options\.schema\.properties must list the object's fields/],
  ['tagging with a bad option', { task: 'tagging', source: { s3: { bucket: 'photos' } }, options: { maxTags: 1000 } }, /options\.maxTags must be an integer from 1 to 32/],
  ['options for inspect', { task: 'inspect', source: { s3: { bucket: 'photos' } }, options: { prompt: 'hi' } }, /inspect takes no options/],
];
for (const [name, body, message] of badBatches) {
  test(`POST /v1/batches rejects ${name} with 400 naming the problem`, async () => {
    const response = await post(body);
    assert.equal(response.statusCode, 400, response.body);
    assert.equal(response.json().error, 'bad_request');
    assert.match(response.json().message, message);
  });
}

test('unknown batches and jobs are 404; malformed ids are 400', async () => {
  assert.equal((await producer.app.inject({ url: '/v1/batches/bnope' })).statusCode, 404);
  assert.equal((await producer.app.inject({ url: '/v1/batches/bnope/results' })).statusCode, 404);
  assert.equal((await producer.app.inject({ method: 'DELETE', url: '/v1/batches/bnope' })).statusCode, 404);
  assert.equal((await producer.app.inject({ url: `/v1/jobs/${deriveJobId('bnope', 'a.jpg')}` })).statusCode, 404);
  assert.equal((await producer.app.inject({ url: '/v1/batches/no%20pe' })).statusCode, 400);
  assert.equal((await producer.app.inject({ url: '/v1/jobs/garbage' })).statusCode, 400);
});

test('health, readiness and metrics', async () => {
  assert.deepEqual((await producer.app.inject({ url: '/healthz' })).json(), { status: 'ok' });
  assert.deepEqual((await producer.app.inject({ url: '/readyz' })).json(), { status: 'ready' });
  const metrics = await producer.app.inject({ url: '/metrics' });
  assert.equal(metrics.statusCode, 200);
  assert.match(metrics.body, /process_resident_memory_bytes/);
});

test('a local directory batch: listing skips non-images, re-posting is idempotent, cancel removes waiting jobs', async () => {
  const dir = join(localDir, 'shop');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  for (let i = 0; i < 30; i++) writeFileSync(join(dir, i % 2 ? 'sub' : '', `p${i}.jpg`), await syntheticPhoto(i, 64, 48));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  writeFileSync(join(dir, 'README'), 'no extension');
  const body = { task: 'inspect', source: { local: { path: dir } } };
  const first = await post(body);
  assert.equal(first.statusCode, 202);
  const { batchId, created } = first.json();
  assert.equal(created, true);
  await producer.lister.idle();
  const again = await post(body);
  assert.deepEqual(again.json(), { batchId, created: false });
  await producer.lister.idle();
  const status = (await producer.app.inject({ url: `/v1/batches/${batchId}` })).json();
  assert.deepEqual([status.state, status.total, status.skipped, status.completed], ['running', 30, 2, 0]);
  assert.deepEqual(status.skippedReasons, { not_an_image_name: 2 });
  // Fair share: every image job waits in the prioritized set with its round (see fair-share.ts).
  assert.equal(await producer.deps.queues.images.getPrioritizedCount(), 30);
  await producer.sampler.sample();
  const running = (await producer.app.inject({ url: '/metrics' })).body;
  assert.match(running, new RegExp(`imagefleet_batch_progress_ratio\\{batch="${batchId}",task="inspect"[^}]*\\} 0`));
  assert.match(running, new RegExp(`imagefleet_batch_inputs\\{batch="${batchId}",task="inspect",state="total"[^}]*\\} 30`));
  assert.match(running, /imagefleet_queue_jobs\{queue="images",state="prioritized"[^}]*\} 30/);

  const cancelled = await producer.app.inject({ method: 'DELETE', url: `/v1/batches/${batchId}` });
  assert.equal(cancelled.statusCode, 200);
  assert.equal(cancelled.json().state, 'cancelled');
  assert.equal(cancelled.json().removed, 30);
  assert.equal(await producer.deps.queues.images.getPrioritizedCount(), 0);
  await producer.sampler.sample();
  assert.doesNotMatch((await producer.app.inject({ url: '/metrics' })).body, new RegExp(`batch="${batchId}"`), 'a finished batch has no series');
});

test('uploads: stored, processed by a worker, reported by GET /v1/jobs/:id; any name, a non-image is 415; too large is 413; bad forms are 400', async () => {
  const worker: RunningWorker = await startWorker(config, createLogger('test-worker', 'silent'));
  try {
    const image = await syntheticPhoto(42, 200, 100);
    const upload = await producer.app.inject({ method: 'POST', url: '/v1/images', ...multipart([{ name: 'task', content: 'inspect' }, { name: 'file', filename: '../../evil name.jpg', content: image }]) });
    assert.equal(upload.statusCode, 202, upload.body);
    const { jobId, batchId } = upload.json();
    const status = await waitForBatchEnd(producer, batchId, 20_000);
    assert.equal(status.state, 'completed');
    const job = (await producer.app.inject({ url: `/v1/jobs/${jobId}` })).json();
    assert.equal(job.state, 'completed');
    assert.equal(job.key, `${batchId}/evil_name.jpg`);
    assert.deepEqual([job.result.width, job.result.height, job.result.bytes], [200, 100, image.length]);

    // Any file name: the bytes decide. Without an extension it is processed like any other upload.
    const bare = await producer.app.inject({ method: 'POST', url: '/v1/images', ...multipart([{ name: 'task', content: 'inspect' }, { name: 'file', filename: 'photo', content: image }]) });
    assert.equal(bare.statusCode, 202, bare.body);
    assert.equal((await waitForBatchEnd(producer, bare.json().batchId, 20_000)).state, 'completed');
    assert.equal((await producer.app.inject({ url: `/v1/jobs/${bare.json().jobId}` })).json().state, 'completed');
    // Bytes that are no image are refused at upload time, whatever the name says.
    const text = await producer.app.inject({ method: 'POST', url: '/v1/images', ...multipart([{ name: 'task', content: 'inspect' }, { name: 'file', filename: 'x.jpg', content: 'hello' }]) });
    assert.equal(text.statusCode, 415, text.body);
    assert.equal(text.json().error, 'not_an_image');

    const huge = await producer.app.inject({ method: 'POST', url: '/v1/images', ...multipart([{ name: 'task', content: 'inspect' }, { name: 'file', filename: 'big.jpg', content: Buffer.alloc(65 * 1024, 1) }]) });
    assert.equal(huge.statusCode, 413, huge.body);
    const noFile = await producer.app.inject({ method: 'POST', url: '/v1/images', ...multipart([{ name: 'task', content: 'inspect' }]) });
    assert.equal(noFile.statusCode, 400);
    assert.match(noFile.json().message, /file is missing/);
    const badTask = await producer.app.inject({ method: 'POST', url: '/v1/images', ...multipart([{ name: 'task', content: 'nope' }, { name: 'file', filename: 'a.jpg', content: image }]) });
    assert.equal(badTask.statusCode, 400);
    assert.match(badTask.json().message, /task must be one of/);
    const notMultipart = await producer.app.inject({ method: 'POST', url: '/v1/images', payload: { task: 'inspect' } });
    assert.equal(notMultipart.statusCode, 400);
  } finally {
    await worker.stop();
  }
});

test('an explicit key list on S3: results stream while running and the manifest matches at the end', async () => {
  const { StoreRegistry } = await import('@imagefleet/storage');
  const stores = new StoreRegistry(services.s3);
  const photos = stores.open('s3://photos');
  const keys = Array.from({ length: 12 }, (_, i) => `cat/${i}.jpg`);
  await Promise.all(keys.map(async (key, i) => photos.put(key, await syntheticPhoto(100 + i, 80, 60))));
  const created = await post({ task: 'inspect', source: { keys: [...keys, 'cat/missing.jpg', 'cat/readme.txt'], bucket: 'photos' } });
  assert.equal(created.statusCode, 202);
  const { batchId } = created.json();
  await producer.lister.idle();
  // Nothing processed yet: results stream is empty but valid.
  const early = await producer.app.inject({ url: `/v1/batches/${batchId}/results` });
  assert.equal(early.statusCode, 200);
  assert.equal(early.headers['content-type'], 'application/x-ndjson');
  const worker = await startWorker(config, createLogger('test-worker', 'silent'));
  try {
    const status = await waitForBatchEnd(producer, batchId, 30_000);
    assert.deepEqual([status.state, status.total, status.completed, status.failed, status.skipped], ['completed_with_errors', 13, 12, 1, 1]);
    const lines = (await producer.app.inject({ url: `/v1/batches/${batchId}/results` })).body.trim().split('\n').map((line) => JSON.parse(line) as ResultLine);
    // 13 outcomes, then the skipped input with its reason.
    assert.equal(lines.length, 14);
    assert.deepEqual(lines[13], { key: 'cat/readme.txt', status: 'skipped', reason: 'not_an_image_name' });
    const missing = lines.find((line) => line.key === 'cat/missing.jpg')!;
    assert.equal(missing.status, 'failed');
    assert.equal(missing.error?.code, 'not_found');
    const manifest = (await stores.open(config.resultsUrl).get(`${batchId}/manifest.jsonl`, { maxBytes: 1e6 })).toString();
    assert.deepEqual(manifest.trim().split('\n').map((line) => JSON.parse(line) as ResultLine), lines);
  } finally {
    await worker.stop();
    stores.close();
  }
});

test('/readyz names the failing checks only: no endpoint, bucket or path in the open answer', async () => {
  const broken = await startTestProducer(testConfig(testEnv(services, { RESULTS_URL: 's3://no-such-bucket/results' })));
  try {
    // Its Redis connection is still opening at first: wait until Redis answers and only the store fails.
    let response = await broken.app.inject({ url: '/readyz' });
    await waitFor(async () => !(response = await broken.app.inject({ url: '/readyz' })).body.includes('redis'), 10_000, 'the Redis check to pass');
    assert.equal(response.statusCode, 503);
    assert.deepEqual(response.json(), { status: 'unavailable', failing: ['results'] });
    assert.ok(!response.body.includes(new URL(services.s3.endpoint).host), response.body);
  } finally {
    await broken.close();
  }
});
