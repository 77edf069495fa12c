import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createLogger, deriveJobId, type Config, type ImageJobData, type ResultLine } from '@imagefleet/core';
import { BatchRegistry, FailJob, PostponeJob, WorkerHeartbeats } from '@imagefleet/jobs';
import { MemoryJobQueues, workJob } from '@imagefleet/jobs/testing';
import { StoreRegistry } from '@imagefleet/storage';
import { createMetricsRegistry, registerJobMetrics } from '@imagefleet/metrics';
import { createFinalizeProcessor, createImageProcessor, type WorkerDeps } from '@imagefleet/worker';
import { deleteRedisPrefix, startServices, type TestServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { syntheticPhoto } from '../helpers/images.js';

/**
 * The processor and finalize without BullMQ: WorkJobs are plain objects and the queues a memory
 * double (@imagefleet/jobs/testing); the batch registry is the real one on Redis.
 */
let services: TestServices;
let redis: Redis;
let dir: string;
let config: Config;
let deps: WorkerDeps;
let queues: MemoryJobQueues;

before(async () => {
  services = await startServices();
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-processor-'));
  config = testConfig(testEnv(services, { RESULTS_URL: join(dir, 'results'), STORAGE_OUTAGE_WINDOW_MS: '60000' }));
  redis = new Redis(services.redisUrl);
  queues = new MemoryJobQueues();
  deps = {
    config,
    logger: createLogger('test-processor', 'silent'),
    redis,
    batches: new BatchRegistry(redis, config.queuePrefix, 3600),
    workers: new WorkerHeartbeats(redis, config.queuePrefix),
    jobs: queues,
    stores: new StoreRegistry(services.s3),
    metrics: registerJobMetrics(createMetricsRegistry({ service: 'worker' })),
    close: async () => undefined,
  };
  writeFileSync(join(dir, 'ok.jpg'), await syntheticPhoto(800, 64, 48));
});

after(async () => {
  redis?.disconnect();
  deps?.stores.close();
  rmSync(dir, { recursive: true, force: true });
  if (services) {
    await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
    await services.stop();
  }
});

async function batchOf(id: string, keys: string[], sourceStore = dir, webhook?: string, task = 'inspect'): Promise<(key: string) => ImageJobData> {
  await deps.batches.create({ id, task, source: { keys, bucket: 'x' }, sourceStore, resultsUrl: config.resultsUrl, webhook, webhookSecret: webhook && 'whsec_dGVzdA==' });
  await deps.batches.recordPage(id, { enqueued: keys.length, skipped: 0, after: undefined, cursor: 'end' });
  await deps.batches.finishListing(id);
  return (key) => ({ batchId: id, task, source: { store: sourceStore, key }, results: config.resultsUrl });
}

const readResult = (batchId: string, key: string) =>
  deps.stores.open(config.resultsUrl).get(`${batchId}/${key}.json`, { maxBytes: 1e6 }).then((body) => JSON.parse(body.toString()) as ResultLine);

test('ok input: outcome recorded, result written, the last input triggers finalize, which writes the manifest', async () => {
  const data = await batchOf('p1', ['ok.jpg']);
  const process = createImageProcessor(deps);
  assert.deepEqual(await process(workJob(deriveJobId('p1', 'ok.jpg'), data('ok.jpg'))), { status: 'ok' });
  assert.equal((await readResult('p1', 'ok.jpg')).status, 'ok');
  assert.deepEqual(queues.finalizeTriggers, ['p1']);
  await createFinalizeProcessor(deps)(workJob('finalize-p1', { batchId: 'p1' }));
  const batch = await deps.batches.get('p1');
  assert.equal(batch?.state, 'completed');
  const manifest = (await deps.stores.open(config.resultsUrl).get('p1/manifest.jsonl', { maxBytes: 1e6 })).toString().trim().split('\n');
  assert.equal(manifest.length, 1);
});

test('bad input fails at once: the failure is recorded, then FailJob ends the job', async () => {
  writeFileSync(join(dir, 'text.jpg'), 'not an image');
  const data = await batchOf('p2', ['text.jpg']);
  await assert.rejects(createImageProcessor(deps)(workJob(deriveJobId('p2', 'text.jpg'), data('text.jpg'))), FailJob);
  assert.deepEqual(await deps.batches.outcome('p2', deriveJobId('p2', 'text.jpg')), { status: 'failed', key: 'text.jpg' });
  assert.equal((await readResult('p2', 'text.jpg')).error?.code, 'not_an_image');
});

test('a model task on a worker without an engine fails as engine_unavailable, without preparing the image for it', async () => {
  const data = await batchOf('p6', ['ok.jpg'], dir, undefined, 'tagging');
  const job = workJob(deriveJobId('p6', 'ok.jpg'), data('ok.jpg'), { attempts: 1 });
  await assert.rejects(createImageProcessor(deps)(job), FailJob);
  assert.equal((await readResult('p6', 'ok.jpg')).error?.code, 'engine_unavailable');
  const stages = (await deps.metrics.stageSeconds.get()).values.filter((value) => value.labels.task === 'tagging' && value.metricName?.endsWith('_count'));
  assert.deepEqual(stages.filter((value) => value.labels.stage === 'fetch').map((value) => value.value), [1]);
  assert.deepEqual(stages.filter((value) => value.labels.stage === 'prepare').map((value) => value.value), []);
});

test('a storage error postpones the input without using an attempt, remembering since when', async () => {
  const data = await batchOf('p3', ['a.jpg'], 's3://photos');
  // S3 where nothing listens: connection refused, a storage_error.
  const unreachable: WorkerDeps = { ...deps, stores: new StoreRegistry({ ...services.s3, endpoint: 'http://127.0.0.1:1', requestTimeoutMs: 500 }) };
  const job = workJob(deriveJobId('p3', 'a.jpg'), data('a.jpg'), { attempts: 1 });
  try {
    const thrown = await createImageProcessor(unreachable)(job).then(() => undefined, (error: unknown) => error);
    assert.ok(thrown instanceof PostponeJob, String(thrown));
    assert.equal(job.data.storagePostponements, 1);
    assert.ok((job.data.storageErrorSince ?? 0) > 0);
    assert.equal(await deps.batches.outcome('p3', job.id), undefined);
    assert.notEqual((await deps.batches.get('p3'))?.storageWaitAt, undefined);
  } finally {
    unreachable.stores.close();
  }
});

test('a stale attempt whose input already has an outcome changes nothing', async () => {
  const data = await batchOf('p4', ['ok.jpg']);
  const jobId = deriveJobId('p4', 'ok.jpg');
  const process = createImageProcessor(deps);
  assert.deepEqual(await process(workJob(jobId, data('ok.jpg'), { token: 'first' })), { status: 'ok' });
  const before = await readResult('p4', 'ok.jpg');
  rmSync(join(dir, 'ok-copy.jpg'), { force: true });
  // Another attempt of the same job, whose source now reads as missing: skipped before any work.
  assert.deepEqual(await process(workJob(jobId, { ...data('ok.jpg'), source: { store: dir, key: 'ok-copy.jpg' } }, { token: 'second' })), { status: 'duplicate' });
  assert.deepEqual(await readResult('p4', 'ok.jpg'), before);
  assert.deepEqual(await deps.batches.outcome('p4', jobId), { status: 'ok', key: 'ok.jpg' });
});

test('finalize queues the webhook delivery (once per batch) instead of delivering it', async () => {
  const data = await batchOf('p5', ['ok.jpg'], dir, 'https://hooks.example.com/p5');
  await createImageProcessor(deps)(workJob(deriveJobId('p5', 'ok.jpg'), data('ok.jpg')));
  const finalize = createFinalizeProcessor(deps);
  await finalize(workJob('finalize-p5', { batchId: 'p5' }));
  assert.equal((await deps.batches.get('p5'))?.state, 'completed');
  assert.equal((await deps.batches.get('p5'))?.webhookState, 'pending');
  // A re-run on the finished batch (its webhook still pending) queues it again: the same one job.
  await finalize(workJob('finalize-p5', { batchId: 'p5' }));
  assert.deepEqual(queues.webhookTriggers, ['p5']);
});
