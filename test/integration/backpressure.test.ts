import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchWait, createJobBackend } from '@imagefleet/jobs';
import { pausedForRoom, waitForBatchEnd } from '../helpers/producer.js';
import { usePhotoWorld } from '../helpers/photo-world.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { waitFor } from '../helpers/processes.js';
import { startSampling } from '../helpers/sampling.js';
import { assertBacklogBounded, readBacklog } from '../helpers/backlog.js';
import { producerMetrics, waitForIdleFleet, workerStageCount } from '../helpers/fleet-metrics.js';

/**
 * LISTING_AHEAD on real Redis, S3 and a worker process: a 100-key prefix listed with room for 20
 * waiting inputs.
 */
const LIMIT = 20;
const CONCURRENCY = 2;
const KEYS = Array.from({ length: 100 }, (_, i) => `bp/${String(i).padStart(3, '0')}.jpg`);
const world = usePhotoWorld(KEYS, 300);
const source = { s3: { bucket: 'photos', prefix: 'bp/' } };

test('a source larger than LISTING_AHEAD: at most LISTING_AHEAD inputs ever wait, and every input is done exactly once', async () => {
  const f = await startTestFleet(world.services, world.stores, world.prefixes, { LISTING_AHEAD: String(LIMIT), WORKER_CONCURRENCY: String(CONCURRENCY), QUEUE_SAMPLE_MS: '250' });
  try {
    const batchId = await f.submit({ task: 'inspect', source });
    // No worker yet: the lister stops at the limit and says why.
    const paused = await pausedForRoom(f.producer, batchId, LIMIT);
    assert.equal(paused.state, 'listing');
    assert.match(paused.detail ?? '', /LISTING_AHEAD/);
    assert.deepEqual(await readBacklog(f.producer.deps, batchId), { counted: LIMIT, queued: LIMIT, active: 0 });

    const sampling = startSampling(() => readBacklog(f.producer.deps, batchId), 10);
    const worker = f.startWorker();
    const status = await waitForBatchEnd(f.producer, batchId, 120_000);
    assertBacklogBounded(await sampling.stop(), LIMIT, CONCURRENCY);

    assert.deepEqual([status.state, status.total, status.completed, status.failed, status.waitingFor], ['completed', KEYS.length, KEYS.length, 0, null]);
    const keys = (await f.manifest(batchId)).map((line) => line.key);
    assert.equal(new Set(keys).size, keys.length, 'a key appears twice in the manifest');
    assert.deepEqual(keys.sort(), KEYS);
    await waitForIdleFleet(producerMetrics(f.producer), { jobs: KEYS.length });
    assert.equal(await workerStageCount(worker, 'fetch'), KEYS.length, 'an input was analysed twice');
  } finally {
    await f.close();
  }
});

test('a listing paused for room stops when its batch is cancelled, and releases its lock when the producer shuts down', async () => {
  const f = await startTestFleet(world.services, world.stores, world.prefixes, { LISTING_AHEAD: String(LIMIT) });
  let closed = false;
  try {
    const cancelled = await f.submit({ task: 'inspect', source, batchId: 'bp_cancelled' });
    await pausedForRoom(f.producer, cancelled, LIMIT);
    const answer = await f.producer.app.inject({ method: 'DELETE', url: `/v1/batches/${cancelled}` });
    assert.equal(answer.statusCode, 200, answer.body);
    await waitFor(() => !f.producer.lister.isListing(cancelled), 10_000, 'the paused lister to stop');
    const record = await f.producer.deps.batches.get(cancelled);
    assert.deepEqual([record?.state, record?.total, record?.listerActive], ['cancelled', LIMIT, false]);

    const held = await f.submit({ task: 'inspect', source, batchId: 'bp_shutdown' });
    await pausedForRoom(f.producer, held, LIMIT);
    const lock = f.producer.deps.batches.listerLock(held);
    assert.equal(await lock.held(), true, 'a paused lister keeps its lock');
    // The lock must be free at once (not after LISTER_LOCK_MS), so another producer can go on.
    const started = Date.now();
    await f.close();
    closed = true;
    assert.ok(Date.now() - started < 10_000, `shutting down took ${Date.now() - started} ms`);
    const backend = createJobBackend(f.config, 'test-backpressure');
    try {
      assert.equal(await backend.batches.listerLock(held).held(), false, 'the lock outlived its producer');
      assert.equal(batchWait((await backend.batches.get(held))!).waitingFor, 'lister');
    } finally {
      await backend.close();
    }
  } finally {
    if (!closed) await f.close();
  }
});

test('an explicit key list with non-images among the images: chunks resume by index, the skipped ones take no room and count once', async () => {
  const f = await startTestFleet(world.services, world.stores, world.prefixes, { LISTING_AHEAD: String(LIMIT), WORKER_CONCURRENCY: String(CONCURRENCY) });
  try {
    const images = KEYS.slice(0, 45);
    const keys = images.flatMap((key, i) => (i % 3 === 0 ? [key, key.replace('.jpg', '.txt')] : [key]));
    const batchId = await f.submit({ task: 'inspect', source: { keys, bucket: 'photos' } });
    const paused = await pausedForRoom(f.producer, batchId, LIMIT);
    // The first 20 images and the non-images listed among them (every third image has one after it).
    assert.equal(paused.skipped, 7);
    f.startWorker();
    const status = await waitForBatchEnd(f.producer, batchId, 120_000);
    assert.deepEqual([status.state, status.total, status.completed, status.skipped], ['completed', images.length, images.length, 15]);
    const lines = await f.manifestLines(batchId);
    assert.deepEqual(lines.filter((line) => line.status === 'skipped').map((line) => line.key).sort(), keys.filter((key) => key.endsWith('.txt')).sort());
    assert.deepEqual(lines.filter((line) => line.status === 'ok').map((line) => line.key).sort(), images);
  } finally {
    await f.close();
  }
});
