import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createLogger, deriveJobId, type Config, type ImageJobData, type ResultLine } from '@imagefleet/core';
import { BatchRegistry, WorkerHeartbeats, type ImageJobSpec, type JobRoute, type ShareOf } from '@imagefleet/jobs';
import { MemoryJobQueues, workJob } from '@imagefleet/jobs/testing';
import { StoreRegistry } from '@imagefleet/storage';
import { createMetricsRegistry, registerJobMetrics } from '@imagefleet/metrics';
import { createFinalizeProcessor, createImageProcessor, type WorkerDeps } from '@imagefleet/worker';
import { startServices, type TestServices } from '../helpers/services.js';
import { cleanUpFleetTests } from '../helpers/test-fleet.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { multiPageImage } from '../helpers/documents.js';

/**
 * A document's split and join through the real processor, finalize and batch registry on Redis
 * (the queues are the memory double; task `inspect`, no model): a worker that dies between
 * recording the split and enqueueing the pages loses nothing, and a repeated split adds nothing.
 */
let services: TestServices;
let redis: Redis;
let dir: string;
let config: Config;
let deps: WorkerDeps;

/** The memory double, except that the first enqueue of page jobs dies, as the worker process would have. */
class DyingOnceQueues extends MemoryJobQueues {
  died = false;
  override async enqueueImages(route: JobRoute, share: ShareOf, jobs: ImageJobSpec[]): Promise<void> {
    if (!this.died && jobs.some((job) => job.data.page !== undefined)) {
      this.died = true;
      throw new Error('worker killed after the split was recorded');
    }
    await super.enqueueImages(route, share, jobs);
  }
}

before(async () => {
  services = await startServices();
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-documents-'));
  config = testConfig(testEnv(services, { RESULTS_URL: join(dir, 'results') }));
  redis = new Redis(services.redisUrl);
  deps = {
    config,
    logger: createLogger('test-documents', 'silent'),
    redis,
    batches: new BatchRegistry(redis, config.queuePrefix, 3600),
    workers: new WorkerHeartbeats(redis, config.queuePrefix),
    jobs: new DyingOnceQueues(),
    stores: new StoreRegistry(services.s3),
    metrics: registerJobMetrics(createMetricsRegistry({ service: 'worker' })),
    close: async () => undefined,
  };
  writeFileSync(join(dir, 'scan.tif'), await multiPageImage('tiff', [[250, 0, 0], [0, 250, 0], [0, 0, 250]], 64, 48));
});

after(async () => {
  redis?.disconnect();
  await cleanUpFleetTests({ services, stores: deps?.stores, prefixes: config ? [config.queuePrefix] : [], dir });
});

test('a worker killed between the split and the page jobs loses nothing; the document is joined once its pages are done', async () => {
  const queues = deps.jobs as DyingOnceQueues;
  await deps.batches.create({ id: 'd1', task: 'inspect', source: { keys: ['scan.tif'], bucket: 'x' }, sourceStore: dir, resultsUrl: config.resultsUrl });
  await deps.batches.recordPage('d1', { enqueued: 1, skipped: 0, after: undefined, cursor: 'end' });
  await deps.batches.finishListing('d1');
  const data: ImageJobData = { batchId: 'd1', task: 'inspect', source: { store: dir, key: 'scan.tif' }, results: config.resultsUrl };
  const documentJob = deriveJobId('d1', 'scan.tif');
  const process = createImageProcessor(deps);

  await assert.rejects(process(workJob(documentJob, data)), /worker killed/);
  assert.equal(queues.enqueued.length, 0);
  const split = await deps.batches.get('d1');
  assert.deepEqual([split?.total, split?.documents, split?.pages, split?.completed], [3, 1, 3, 0]);

  // Run again (BullMQ hands the job of a dead worker to another): the recorded split is enqueued, counted once.
  assert.deepEqual(await process(workJob(documentJob, data, { token: 'second' })), { status: 'split' });
  assert.deepEqual(await process(workJob(documentJob, data, { token: 'third' })), { status: 'split' });
  assert.deepEqual(queues.enqueued.map(({ spec }) => spec.data.page), [1, 2, 3]);
  const again = await deps.batches.get('d1');
  assert.deepEqual([again?.total, again?.documents, again?.pages], [3, 1, 3]);

  for (const { spec } of queues.enqueued) assert.deepEqual(await process(workJob(spec.jobId, spec.data)), { status: 'ok' });
  assert.deepEqual(queues.finalizeTriggers, ['d1']);
  await createFinalizeProcessor(deps)(workJob('finalize-d1', { batchId: 'd1' }));
  const finished = await deps.batches.get('d1');
  assert.deepEqual([finished?.state, finished?.completed, finished?.failed], ['completed', 3, 0]);

  const manifest = (await deps.stores.open(config.resultsUrl).get('d1/manifest.jsonl', { maxBytes: 1e6 })).toString().trim().split('\n').map((line) => JSON.parse(line) as ResultLine);
  assert.deepEqual(manifest.map((line) => line.key).sort(), ['scan.tif', 'scan.tif#page=1', 'scan.tif#page=2', 'scan.tif#page=3']);
  const joined = manifest.find((line) => line.key === 'scan.tif')!;
  const pages = (joined.result as { pages: (ResultLine & { page: number; result: { dominantColours: { hex: string }[] } })[] }).pages;
  assert.deepEqual(pages.map((page) => page.page), [1, 2, 3]);
  // Each page is its own page: inspect saw red, then green, then blue (the strongest channel of the dominant colour).
  const strongestChannel = (hex: string) => {
    const channels = [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16));
    return channels.indexOf(Math.max(...channels));
  };
  assert.deepEqual(pages.map((page) => strongestChannel(page.result.dominantColours[0]!.hex)), [0, 1, 2]);
});
