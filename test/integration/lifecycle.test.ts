import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createLogger, deriveJobId, type Config, type ResultLine } from '@imagefleet/core';
import { BatchRegistry, createQueues, createRedis, FailJob, startConsumers } from '@imagefleet/jobs';
import { startWorker, type RunningWorker } from '@imagefleet/worker';
import { ensureBucket } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { batchStatus, startTestProducer, waitForBatchEnd, type TestProducer } from '../helpers/producer.js';
import { syntheticPhoto } from '../helpers/images.js';
import { usePhotoWorld } from '../helpers/photo-world.js';
import { waitFor } from '../helpers/processes.js';
import { readManifest } from '../helpers/manifest.js';

/**
 * The batch lifecycle converges whatever fails when: outcomes are recorded even when results
 * cannot be written, finalize runs again after failing, the reconciler finishes what a dead
 * process left, and a stale attempt changes nothing.
 */
const keys = ['life/a.jpg', 'life/b.jpg', 'life/c.jpg'];
const world = usePhotoWorld(keys, 300);

/** A producer (with its reconciler) and an in-process worker on one config; setup() state is written before either starts. */
async function fleet(extra: Record<string, string>) {
  const config: Config = testConfig(testEnv(world.services, { RECONCILE_INTERVAL_MS: '100', FINALIZE_RETRY_MS: '0', JOB_ATTEMPTS: '2', ...extra }));
  world.prefixes.push(config.queuePrefix);
  const redis = new Redis(world.services.redisUrl);
  world.cleanups.push(async () => redis.disconnect());
  let producer: TestProducer | undefined;
  return {
    config,
    redis,
    /** The registry on a plain connection: sets up what a dead process left behind. */
    setup: new BatchRegistry(redis, config.queuePrefix, 3600),
    get producer(): TestProducer {
      return producer!;
    },
    async start(withWorker = true) {
      producer = await startTestProducer(config);
      world.cleanups.push(() => producer!.close());
      if (!withWorker) return;
      const worker: RunningWorker = await startWorker(config, createLogger('test-worker', 'silent'), { serveHealth: false });
      world.cleanups.push(() => worker.stop());
    },
    async submit(body: Record<string, unknown>): Promise<string> {
      const response = await producer!.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'inspect', ...body } });
      assert.equal(response.statusCode, 202, response.body);
      return response.json().batchId as string;
    },
  };
}

test('inputs whose results cannot be written still get their outcome; the batch finishes once the store is back', async () => {
  const bucket = `late-${Date.now()}`;
  const f = await fleet({ RESULTS_URL: `s3://${bucket}/run`, FINALIZE_RETRY_MS: '1500' });
  await f.start();
  const batchId = await f.submit({ source: { keys, bucket: 'photos' } });
  // Every input is recorded ok although no result object (nor the manifest) can be written.
  await waitFor(async () => (await batchStatus(f.producer, batchId)).completed === keys.length, 30_000, 'outcomes recorded while the results store fails');
  const waiting = await batchStatus(f.producer, batchId);
  assert.deepEqual([waiting.state, waiting.failed, waiting.waitingFor], ['running', 0, 'finalizing']);
  // Finalize fails until its attempts are spent; a failed finalize job does not block the next one.
  const finalizeJob = () => f.producer.deps.queues.finalize.getJob(`finalize-${batchId}`).then((job) => job?.getState());
  await waitFor(async () => (await finalizeJob()) === 'failed', 30_000, 'the finalize job to fail for good');
  assert.match((await batchStatus(f.producer, batchId)).detail ?? '', /finalize failed/);
  await ensureBucket(world.services, bucket);
  const status = await waitForBatchEnd(f.producer, batchId, 60_000);
  assert.deepEqual([status.state, status.completed, status.failed, status.waitingFor], ['completed', keys.length, 0, null]);
  const manifest = await readManifest(world.stores, f.config.resultsUrl, batchId);
  assert.deepEqual(manifest.map((line) => line.key).sort(), keys);
  assert.ok(manifest.every((line) => line.status === 'ok'));
  // The result objects were stored by finalize, with the recorded lines.
  for (const key of keys) {
    const line = JSON.parse((await world.stores.open(f.config.resultsUrl).get(`${batchId}/${key}.json`, { maxBytes: 1e6 })).toString()) as ResultLine;
    assert.equal(line.status, 'ok');
  }
});

test('a manifest that cannot be written is absent (never partial) until a later finalize writes it whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imagefleet-life-'));
  world.cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const f = await fleet({ RESULTS_URL: dir });
  const batchId = `life_manifest_${process.pid}`;
  // A directory where the manifest goes: every write of it fails until it is removed.
  const blocker = join(dir, batchId, 'manifest.jsonl');
  mkdirSync(join(blocker, 'x'), { recursive: true });
  await f.start();
  await f.submit({ source: { keys, bucket: 'photos' }, batchId });
  await waitFor(async () => /finalize failed/.test((await batchStatus(f.producer, batchId)).detail ?? ''), 30_000, 'a failed finalize');
  assert.equal((await batchStatus(f.producer, batchId)).state, 'running');
  rmSync(blocker, { recursive: true });
  const status = await waitForBatchEnd(f.producer, batchId, 60_000);
  assert.equal(status.state, 'completed');
  const manifest = await readManifest(world.stores, f.config.resultsUrl, batchId);
  assert.equal(manifest.length, keys.length);
  assert.ok(existsSync(join(dir, batchId, 'manifest.jsonl')));
});

test('the reconciler finalizes a batch whose inputs are all done but whose finalize was never enqueued', async () => {
  const f = await fleet({});
  const batchId = `life_orphan_${process.pid}`;
  const { setup } = f;
  await setup.create({ id: batchId, task: 'inspect', source: { keys, bucket: 'photos' }, sourceStore: 's3://photos', resultsUrl: f.config.resultsUrl });
  await setup.recordPage(batchId, { enqueued: keys.length, skipped: 0, after: undefined, cursor: String(keys.length) });
  for (const key of keys) await setup.claimOutcome(batchId, deriveJobId(batchId, key), { key, status: 'ok', result: { recorded: true } }, 'dead-worker');
  // The listing finishes with every input done; its producer dies before enqueueing finalize.
  assert.equal(await setup.finishListing(batchId), true);
  await f.start();
  const status = await waitForBatchEnd(f.producer, batchId, 30_000);
  assert.deepEqual([status.state, status.completed], ['completed', keys.length]);
  const manifest = await readManifest(world.stores, f.config.resultsUrl, batchId);
  assert.deepEqual(manifest.map((line) => line.result), keys.map(() => ({ recorded: true })));
});

test('a job BullMQ failed without an outcome (its worker died before recording it) gets one from the reconciler', async () => {
  const f = await fleet({});
  const batchId = `life_unrecorded_${process.pid}`;
  const key = keys[0]!;
  const jobId = deriveJobId(batchId, key);
  await f.setup.create({ id: batchId, task: 'inspect', source: { keys: [key], bucket: 'photos' }, sourceStore: 's3://photos', resultsUrl: f.config.resultsUrl });
  await f.setup.recordPage(batchId, { enqueued: 1, skipped: 0, after: undefined, cursor: '1' });
  await f.setup.finishListing(batchId);
  // A worker that fails the job for good and dies before recording anything.
  const connection = createRedis(world.services.redisUrl, 'test-dying-worker');
  const queues = createQueues(connection, f.config.queuePrefix, { attempts: 1, backoffMs: 100 });
  const failed = new Promise<void>((resolve) => {
    const consumers = startConsumers(connection, {
      image: async () => {
        throw new FailJob('corrupt_image: the decoder gave up');
      },
      finalize: async () => undefined,
      imageFailed: async () => {
        resolve();
        await consumers.close(1000);
      },
      error: () => undefined,
    }, { prefix: f.config.queuePrefix, lockDurationMs: 5000, stalledIntervalMs: 5000, maxStalls: 1, imageConcurrency: 1 });
  });
  world.cleanups.push(async () => {
    await queues.close();
    connection.disconnect();
  });
  await queues.images.add('inspect', { batchId, task: 'inspect', source: { store: 's3://photos', key }, results: f.config.resultsUrl }, { jobId });
  await failed;
  assert.equal(await f.setup.outcome(batchId, jobId), undefined);
  await f.start();
  const status = await waitForBatchEnd(f.producer, batchId, 30_000);
  assert.deepEqual([status.state, status.failed], ['completed_with_errors', 1]);
  const [line] = await readManifest(world.stores, f.config.resultsUrl, batchId);
  assert.deepEqual([line?.key, line?.status, line?.error?.code, line?.error?.message], [key, 'failed', 'corrupt_image', 'the decoder gave up']);
});

test('a listing whose producer died is taken over once its lock expires, without a re-post', async () => {
  const f = await fleet({ LISTER_LOCK_MS: '1500' });
  const batchId = `life_lister_${process.pid}`;
  await f.setup.create({ id: batchId, task: 'inspect', source: { keys, bucket: 'photos' }, sourceStore: 's3://photos', resultsUrl: f.config.resultsUrl });
  // The dead producer's lock: held for another 1.5 s, renewed by nobody.
  const lockedUntil = Date.now() + 1500;
  await f.redis.set(`${f.config.queuePrefix}:batch:${batchId}:lister`, 'dead-producer', 'PX', 1500);
  await f.start();
  // What a restarted producer does first; the lock is still held, so it cannot list yet.
  await f.producer.lister.resumeAll();
  await waitFor(async () => (await batchStatus(f.producer, batchId)).state !== 'listing', 30_000, 'the listing to be taken over');
  assert.ok(Date.now() >= lockedUntil, 'listed while the dead producer still held the lock');
  const status = await waitForBatchEnd(f.producer, batchId, 30_000);
  assert.deepEqual([status.state, status.total, status.completed], ['completed', keys.length, keys.length]);
});

test('a stale attempt of an input that already has an outcome changes neither the outcome nor the result object', async () => {
  const f = await fleet({});
  await f.start();
  const key = 'life/stale.jpg';
  await world.stores.open('s3://photos').put(key, await syntheticPhoto(399, 80, 60));
  const batchId = await f.submit({ source: { keys: [key], bucket: 'photos' } });
  const status = await waitForBatchEnd(f.producer, batchId, 30_000);
  assert.equal(status.state, 'completed');
  const jobId = deriveJobId(batchId, key);
  // The same job runs again (e.g. a frozen worker's attempt), and its input is gone by now.
  await world.stores.open('s3://photos').put(key, Buffer.alloc(0));
  const { queues } = f.producer.deps;
  await queues.images.remove(jobId);
  await queues.images.add('inspect', { batchId, task: 'inspect', source: { store: 's3://photos', key }, results: f.config.resultsUrl }, { jobId });
  await waitFor(async () => ['completed', 'failed'].includes((await queues.images.getJob(jobId).then((job) => job?.getState())) ?? ''), 30_000, 'the stale attempt to end');
  const line = JSON.parse((await world.stores.open(f.config.resultsUrl).get(`${batchId}/${key}.json`, { maxBytes: 1e6 })).toString()) as ResultLine;
  assert.equal(line.status, 'ok');
  assert.deepEqual(await f.producer.deps.batches.outcome(batchId, jobId), { status: 'ok', key });
  const after = await batchStatus(f.producer, batchId);
  assert.deepEqual([after.completed, after.failed], [1, 0]);
});
