import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveJobId, type BatchStatus } from '@imagefleet/core';
import { queuedJobsKey } from '@imagefleet/jobs';
import { batchStatus, pausedForRoom, waitForBatchEnd, type TestProducer } from '../helpers/producer.js';
import { usePhotoWorld } from '../helpers/photo-world.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { waitFor } from '../helpers/processes.js';
import { readBacklog } from '../helpers/backlog.js';
import { workerStageCount } from '../helpers/fleet-metrics.js';
import { syntheticPhoto } from '../helpers/images.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

/** Per-batch pause, resume, retry and cancel on real Redis, S3 and worker processes. */
const keys = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}/${String(i).padStart(3, '0')}.jpg`);
const RUN = keys('run', 240);
const SIDE = keys('side', 5);
const LIST = keys('list', 60);
const world = usePhotoWorld([...RUN, ...SIDE, ...LIST], 700);

/** Entries in the batch's queued-jobs index (enqueued, no outcome yet). */
const indexed = (producer: TestProducer, batchId: string) => producer.deps.redis.hlen(queuedJobsKey(producer.deps.config.queuePrefix, batchId));

async function act(producer: TestProducer, batchId: string, action: 'pause' | 'resume' | 'retry') {
  return producer.app.inject({ method: 'POST', url: `/v1/batches/${batchId}/${action}` });
}

/** Every input in the manifest exactly once, each ok. */
async function assertManifestOnce(lines: { key: string; status: string }[], expected: string[]): Promise<void> {
  const seen = lines.map((line) => line.key);
  assert.equal(new Set(seen).size, seen.length, 'a key appears twice in the manifest');
  assert.deepEqual(seen.sort(), [...expected].sort());
  assert.deepEqual([...new Set(lines.map((line) => line.status))], ['ok']);
}

test('cancel removes only its own batch\'s waiting jobs, through its index; outcomes empty the other\'s index', async () => {
  const f = await startTestFleet(world.services, world.stores, world.prefixes);
  try {
    const cancelled = await f.submit({ task: 'inspect', source: { keys: SIDE, bucket: 'photos' }, batchId: 'ops_cancelled' });
    const kept = await f.submit({ task: 'inspect', source: { keys: SIDE.slice(0, 3), bucket: 'photos' }, batchId: 'ops_kept' });
    await waitFor(async () => (await batchStatus(f.producer, cancelled)).state === 'running' && (await batchStatus(f.producer, kept)).state === 'running', 20_000, 'both listed');
    assert.deepEqual([await indexed(f.producer, cancelled), await indexed(f.producer, kept)], [SIDE.length, 3]);

    const answer = await f.producer.app.inject({ method: 'DELETE', url: `/v1/batches/${cancelled}` });
    assert.equal(answer.statusCode, 200, answer.body);
    assert.deepEqual([answer.json().state, answer.json().removed], ['cancelled', SIDE.length]);
    for (const key of SIDE) assert.equal(await f.producer.deps.jobs.imageJob(deriveJobId(cancelled, key), { kind: 'pixels' }), undefined, `${key} of the cancelled batch still queued`);
    for (const key of SIDE.slice(0, 3)) assert.equal((await f.producer.deps.jobs.imageJob(deriveJobId(kept, key), { kind: 'pixels' }))?.state, 'waiting');
    assert.equal(await indexed(f.producer, cancelled), 0, 'the cancelled batch kept its index');

    f.startWorker();
    const status = await waitForBatchEnd(f.producer, kept, 60_000);
    assert.deepEqual([status.state, status.completed], ['completed', 3]);
    assert.equal(await indexed(f.producer, kept), 0);
  } finally {
    await f.close();
  }
});

test('a paused running batch starts no input while another batch runs to its end; resumed, it completes with every input once', async () => {
  const f = await startTestFleet(world.services, world.stores, world.prefixes, { WORKER_CONCURRENCY: '1' });
  try {
    const worker = f.startWorker();
    const batchId = await f.submit({ task: 'inspect', source: { s3: { bucket: 'photos', prefix: 'run/' } } });
    await waitFor(async () => (await batchStatus(f.producer, batchId)).completed >= 3, 60_000, 'the first inputs to finish');
    const paused = await act(f.producer, batchId, 'pause');
    assert.equal(paused.statusCode, 200, paused.body);
    assert.equal(paused.json().state, 'paused');
    assert.ok(paused.json().held > 0, `nothing was held back: ${paused.body}`);

    // Jobs a worker held at the pause finish; then nothing of this batch waits or runs.
    await waitFor(async () => (await readBacklog(f.producer.deps, batchId)).active === 0, 30_000, 'the active jobs to finish');
    const still = await batchStatus(f.producer, batchId);
    assert.deepEqual([still.state, still.waitingFor, (await readBacklog(f.producer.deps, batchId)).queued], ['paused', 'paused', 0]);
    assert.match(still.detail ?? '', /was running/);
    assert.equal(await indexed(f.producer, batchId), still.total - still.completed - still.failed, 'the index holds exactly the inputs without an outcome');

    const side = await f.submit({ task: 'inspect', source: { keys: SIDE, bucket: 'photos' } });
    assert.equal((await waitForBatchEnd(f.producer, side, 60_000)).completed, SIDE.length);
    const after = await batchStatus(f.producer, batchId);
    assert.deepEqual([after.state, after.completed, after.failed], ['paused', still.completed, still.failed], 'the paused batch moved while another ran');
    assert.deepEqual((await f.producer.reconciler.tick()).finalizesStarted, [], 'the reconciler finalized a paused batch');

    const resumed = await act(f.producer, batchId, 'resume');
    assert.equal(resumed.statusCode, 200, resumed.body);
    assert.deepEqual([resumed.json().state, resumed.json().requeued], ['running', still.total - still.completed - still.failed]);
    const status = await waitForBatchEnd(f.producer, batchId, 120_000);
    assert.deepEqual([status.state, status.total, status.completed, status.failed], ['completed', RUN.length, RUN.length, 0]);
    await assertManifestOnce(await f.manifest(batchId), RUN);
    assert.equal(await workerStageCount(worker, 'fetch'), RUN.length + SIDE.length, 'an input was analysed twice');
  } finally {
    await f.close();
  }
});

test('a batch paused while listing stops its lister, is not resumed by the reconciler, and completes after resume', async () => {
  const limit = 20;
  const f = await startTestFleet(world.services, world.stores, world.prefixes, { LISTING_AHEAD: String(limit) });
  try {
    const batchId = await f.submit({ task: 'inspect', source: { s3: { bucket: 'photos', prefix: 'list/' } } });
    await pausedForRoom(f.producer, batchId, limit);
    const paused = await act(f.producer, batchId, 'pause');
    assert.equal(paused.statusCode, 200, paused.body);
    assert.deepEqual([paused.json().state, paused.json().held, paused.json().waitingFor], ['paused', limit, 'paused']);
    await waitFor(() => !f.producer.lister.isListing(batchId), 10_000, 'the lister to stop');
    assert.equal(await f.producer.deps.batches.listerLock(batchId).held(), false, 'the stopped lister kept its lock');
    assert.deepEqual((await f.producer.reconciler.tick()).listingsResumed, [], 'the reconciler resumed a paused listing');
    assert.deepEqual([(await readBacklog(f.producer.deps, batchId)).queued, await indexed(f.producer, batchId)], [0, limit]);
    assert.match((await batchStatus(f.producer, batchId)).detail ?? '', /was listing/);
    assert.equal((await act(f.producer, batchId, 'pause')).statusCode, 409, 'paused twice');

    f.startWorker();
    const resumed = await act(f.producer, batchId, 'resume');
    assert.equal(resumed.statusCode, 200, resumed.body);
    assert.deepEqual([resumed.json().state, resumed.json().requeued], ['listing', limit]);
    const status = await waitForBatchEnd(f.producer, batchId, 120_000);
    assert.deepEqual([status.state, status.total, status.completed], ['completed', LIST.length, LIST.length]);
    await assertManifestOnce(await f.manifest(batchId), LIST);
  } finally {
    await f.close();
  }
});

test('retry re-runs the failed inputs once the source is fixed: the manifest is rewritten and the webhook sent again', async () => {
  const receiver = await startReceiver('ok');
  const f = await startTestFleet(world.services, world.stores, world.prefixes, { WEBHOOK_ALLOW_PRIVATE: 'true' });
  try {
    const photos = world.stores.open('s3://photos');
    const broken = keys('broken', 3);
    await Promise.all(broken.map((key) => photos.put(key, Buffer.from('not an image at all'))));
    const inputs = [...broken, ...SIDE];
    f.startWorker();
    const clean = await f.submit({ task: 'inspect', source: { keys: SIDE, bucket: 'photos' } });
    const batchId = await f.submit({ task: 'inspect', source: { keys: inputs, bucket: 'photos' }, webhook: `${receiver.url}/hook` });
    const first = await waitForBatchEnd(f.producer, batchId, 60_000);
    assert.deepEqual([first.state, first.completed, first.failed], ['completed_with_errors', SIDE.length, broken.length]);
    assert.equal((await waitForBatchEnd(f.producer, clean, 60_000)).state, 'completed');
    assert.equal((await act(f.producer, clean, 'retry')).statusCode, 409, 'a clean batch was retried');
    await waitFor(() => receiver.requests.length === 1, 30_000, 'the first webhook');

    await Promise.all(broken.map(async (key, i) => photos.put(key, await syntheticPhoto(900 + i, 96, 64))));
    const retried = await act(f.producer, batchId, 'retry');
    assert.equal(retried.statusCode, 200, retried.body);
    assert.deepEqual([retried.json().retried, retried.json().failed], [broken.length, 0]);
    let status: BatchStatus | undefined;
    await waitFor(async () => (status = await batchStatus(f.producer, batchId)).state === 'completed', 60_000, 'the retried batch to complete');
    assert.deepEqual([status!.total, status!.completed, status!.failed], [inputs.length, inputs.length, 0]);
    await assertManifestOnce(await f.manifest(batchId), inputs);

    await waitFor(() => receiver.requests.length === 2, 30_000, 'the webhook of the retried run');
    const [before, again] = receiver.requests;
    assert.notEqual(again!.headers['webhook-id'], before!.headers['webhook-id'], 'the second run reused the message id');
    assert.deepEqual([JSON.parse(before!.body).batch.state, JSON.parse(again!.body).batch.state], ['completed_with_errors', 'completed']);
    assert.equal((await act(f.producer, batchId, 'retry')).statusCode, 409, 'a batch without failures was retried');
  } finally {
    await f.close();
    await receiver.close();
  }
});
