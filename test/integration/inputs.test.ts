import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveJobId, ImagefleetError, type SkippedLine } from '@imagefleet/core';
import { ensureBucket } from '../helpers/services.js';
import { usePhotoWorld } from '../helpers/photo-world.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { waitForBatchEnd } from '../helpers/producer.js';
import { syntheticPhoto } from '../helpers/images.js';
import { bigOptionsBatch, HOSTILE_KEYS, hostileLocalTree } from '../helpers/hostile-inputs.js';

/**
 * Hostile inputs (issue 10, item 5) against a real producer, real worker processes, Redis and
 * s3rver: links and special files, unsafe keys, result paths that collide, error bodies, options
 * stored once per batch.
 */
const COLLIDING_S3_KEYS = ['x.jpg', 'x.jpg.json._S3rver_object/y.jpg'];
const world = usePhotoWorld(COLLIDING_S3_KEYS, 700);
let dir: string;
let tree: Awaited<ReturnType<typeof hostileLocalTree>>;
let local: Awaited<ReturnType<typeof startTestFleet>>;
let s3: Awaited<ReturnType<typeof startTestFleet>>;

/** Set up once, by the first test (after the photo world's own hooks). */
let ready: Promise<void> | undefined;
const setup = () => (ready ??= (async () => {
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-inputs-'));
  tree = await hostileLocalTree(join(dir, 'root'), join(dir, 'outside'));
  await ensureBucket(world.services, 'secret');
  await world.stores.open('s3://secret').put('x.jpg', await syntheticPhoto(710, 64, 48));
  local = await startTestFleet(world.services, world.stores, world.prefixes, { RESULTS_URL: join(dir, 'results'), LOCAL_SOURCE_ROOTS: join(dir, 'root') });
  // A result path s3rver cannot create answers 500 for ever: given up after the outage window.
  // One job at a time, in key order: the other order (a file over s3rver's directory) crashes s3rver itself.
  s3 = await startTestFleet(world.services, world.stores, world.prefixes, { STORAGE_OUTAGE_WINDOW_MS: '1000', RECONCILE_INTERVAL_MS: '200', FINALIZE_RETRY_MS: '300', WORKER_CONCURRENCY: '1' });
  local.startWorker();
  s3.startWorker();
  world.cleanups.push(() => local.close(), () => s3.close(), async () => rmSync(dir, { recursive: true, force: true }));
})());

const post = (fleet: typeof local, body: unknown) => fleet.producer.app.inject({ method: 'POST', url: '/v1/batches', payload: body as object });

test('a local path is checked by its real path: a link out of the root, a missing directory and /etc get one 400 naming no root', async () => {
  await setup();
  for (const path of [tree.escape, join(dir, 'root', 'missing'), '/etc', join(tree.escape, '..', 'outside')]) {
    const response = await post(local, { task: 'inspect', source: { local: { path } } });
    assert.equal(response.statusCode, 400, `${path}: ${response.body}`);
    assert.deepEqual(response.json(), { error: 'bad_request', message: 'source.local.path must be an existing directory inside the directories this server allows (LOCAL_SOURCE_ROOTS)' });
    assert.ok(!response.body.includes(dir), 'the body names a server path');
  }
});

test('links and special files are never read: counted as skipped with a reason in the status and the manifest', async () => {
  await setup();
  const batchId = await local.submit({ task: 'inspect', source: { local: { path: tree.src } } });
  const status = await waitForBatchEnd(local.producer, batchId, 30_000);
  assert.deepEqual([status.state, status.total, status.completed, status.skipped], ['completed', 1, 1, 4]);
  assert.deepEqual(status.skippedReasons, { not_an_image_name: 1, symlink: 2, not_a_regular_file: 1 });
  const manifest = await local.manifestLines(batchId);
  assert.deepEqual(manifest.filter((line) => line.status === 'ok').map((line) => line.key), ['a.jpg']);
  const skipped = manifest.filter((line): line is SkippedLine => line.status === 'skipped').map((line) => `${line.key}:${line.reason}`).sort();
  assert.deepEqual(skipped, ['fifo.jpg:not_a_regular_file', 'link.jpg:symlink', 'linkdir:symlink', 'notes.txt:not_an_image_name']);
});

test('the local store opens no link, no FIFO and nothing outside its root', async () => {
  await setup();
  const store = local.producer.deps.stores.open(tree.src);
  for (const key of ['link.jpg', 'linkdir/secret.jpg', 'fifo.jpg']) {
    await assert.rejects(store.get(key, { maxBytes: 1e6 }), (error: unknown) => error instanceof ImagefleetError && error.code === 'invalid_job', key);
  }
  assert.ok((await store.get('a.jpg', { maxBytes: 1e6 })).length > 0);
});

for (const [what, key] of HOSTILE_KEYS) {
  test(`source.keys with a key with ${what} is a 400 naming source.keys[1]`, async () => {
  await setup();
    const response = await post(s3, { task: 'inspect', source: { keys: ['ok.jpg', key], bucket: 'photos' } });
    assert.equal(response.statusCode, 400, response.body);
    assert.equal(response.json().error, 'bad_request');
    assert.match(response.json().message, /^source\.keys\[1\] is not a safe object key: /);
  });
}

test('a ".." key never reaches another bucket: refused before any request, skipped when listed, and no record is written there', async () => {
  await setup();
  await assert.rejects(world.stores.open('s3://photos').get('../secret/x.jpg', { maxBytes: 1e6 }), (error: unknown) => error instanceof ImagefleetError && error.code === 'invalid_job');
  // A batch recorded before keys were checked (or an unsafe listed key): skipped, the batch finishes.
  const { deps, lister } = s3.producer;
  await deps.batches.create({ id: 'olddots', task: 'inspect', source: { keys: ['../secret/x.jpg', 'x.jpg'], bucket: 'photos' }, sourceStore: 's3://photos', resultsUrl: s3.config.resultsUrl });
  lister.start('olddots');
  const status = await waitForBatchEnd(s3.producer, 'olddots', 30_000);
  assert.deepEqual([status.state, status.completed, status.skipped, status.skippedReasons], ['completed', 1, 1, { invalid_key: 1 }]);
  const secret = [];
  for await (const page of world.stores.open('s3://secret').list('')) secret.push(...page.map((info) => info.key));
  assert.deepEqual(secret, ['x.jpg']);
});

test('a job from before the upgrade, with its options in its data, still runs', async () => {
  await setup();
  const { deps } = s3.producer;
  await deps.batches.create({ id: 'oldjob', task: 'inspect', source: { keys: ['x.jpg'], bucket: 'photos' }, sourceStore: 's3://photos', resultsUrl: s3.config.resultsUrl });
  await deps.batches.recordPage('oldjob', { enqueued: 1, skipped: 0, after: undefined, cursor: 'end' });
  await deps.batches.finishListing('oldjob');
  const data = { batchId: 'oldjob', task: 'inspect', source: { store: 's3://photos', key: 'x.jpg' }, results: s3.config.resultsUrl, options: {} };
  await deps.jobs.enqueueImages({ kind: 'pixels' }, { batchId: 'oldjob' }, [{ jobId: deriveJobId('oldjob', 'x.jpg'), name: 'inspect', data }]);
  assert.deepEqual(await waitForBatchEnd(s3.producer, 'oldjob', 30_000).then((status) => [status.state, status.completed]), ['completed', 1]);
});

test('result paths that collide in a results directory: one input fails as result_unstorable and the batch finishes', async () => {
  await setup();
  const batchId = await local.submit({ task: 'inspect', source: { local: { path: tree.collide } } });
  const status = await waitForBatchEnd(local.producer, batchId, 30_000);
  assert.deepEqual([status.state, status.total, status.completed, status.failed], ['completed_with_errors', 2, 1, 1]);
  const codes = (await local.manifest(batchId)).map((line) => line.error?.code ?? line.status).sort();
  assert.deepEqual(codes, ['ok', 'result_unstorable']);
});

test('result paths that collide on s3rver (a write that keeps failing): one input fails as result_unstorable and the batch finishes', async () => {
  await setup();
  const batchId = await s3.submit({ task: 'inspect', source: { keys: COLLIDING_S3_KEYS, bucket: 'photos' } });
  const status = await waitForBatchEnd(s3.producer, batchId, 60_000);
  assert.deepEqual([status.state, status.total, status.completed, status.failed], ['completed_with_errors', 2, 1, 1]);
  const codes = (await s3.manifest(batchId)).map((line) => line.error?.code ?? line.status).sort();
  assert.deepEqual(codes, ['ok', 'result_unstorable']);
});

test('error bodies name the field, not the S3 endpoint or whether the bucket exists', async () => {
  await setup();
  const endpoint = new URL(world.services.s3.endpoint).host;
  for (const bucket of ['does-not-exist', 'secret-missing-too']) {
    const response = await post(s3, { task: 'inspect', source: { s3: { bucket, prefix: '' } } });
    assert.equal(response.statusCode, 400);
    assert.deepEqual(response.json(), { error: 'bad_request', message: 'source.s3.bucket cannot be read by this server' });
    assert.ok(!response.body.includes(endpoint) && !/NoSuchBucket|127\.0\.0\.1/.test(response.body), response.body);
  }
});

test('options are stored once with the batch: 1 MB of options over 400 images adds about 1 MB to Redis, not 400', async () => {
  await setup();
  const { before, after, jobs } = await bigOptionsBatch(s3.producer, world.services.redisUrl);
  assert.equal(jobs, 400);
  const grownMiB = (after - before) / 2 ** 20;
  console.log(`Redis used_memory: ${(before / 2 ** 20).toFixed(1)} MiB before, ${(after / 2 ** 20).toFixed(1)} MiB after (1 MB options x 400 jobs)`);
  assert.ok(grownMiB < 8, `Redis grew by ${grownMiB.toFixed(1)} MiB`);
});
