import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createLogger, deriveJobId, type Config } from '@imagefleet/core';
import { BatchRegistry } from '@imagefleet/jobs';
import { MemoryJobQueues } from '@imagefleet/jobs/testing';
import { StoreRegistry } from '@imagefleet/storage';
import { BatchLister, type ProducerDeps } from '@imagefleet/producer';
import { deleteRedisPrefix, startServices, type TestServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';

/** The lister without BullMQ: jobs go to the memory double; the batch registry is the real one. */
let services: TestServices;
let redis: Redis;
let dir: string;
let config: Config;
let queues: MemoryJobQueues;
let batches: BatchRegistry;
let lister: BatchLister;
let stores: StoreRegistry;

before(async () => {
  services = await startServices();
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-lister-'));
  config = testConfig(testEnv(services, { LISTER_LOCK_MS: '5000' }));
  redis = new Redis(services.redisUrl);
  queues = new MemoryJobQueues();
  batches = new BatchRegistry(redis, config.queuePrefix, 3600);
  stores = new StoreRegistry(services.s3);
  const background = { redis, batches, jobs: queues, close: async () => undefined };
  // Only what the lister reads; the request-path backend is not needed here.
  lister = new BatchLister({ background, config, logger: createLogger('test-lister', 'silent'), stores } as unknown as ProducerDeps);
});

after(async () => {
  redis?.disconnect();
  stores?.close();
  rmSync(dir, { recursive: true, force: true });
  if (services) {
    await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
    await services.stop();
  }
});

test('the lister enqueues images once each, counts the rest as skipped, and triggers nothing before inputs finish', async () => {
  mkdirSync(join(dir, 'src', 'sub'), { recursive: true });
  for (const name of ['a.jpg', 'sub/b.png', 'c.webp']) writeFileSync(join(dir, 'src', name), 'x');
  writeFileSync(join(dir, 'src', 'notes.txt'), 'not an image');
  await batches.create({ id: 'l1', task: 'inspect', source: { local: { path: join(dir, 'src') } }, sourceStore: join(dir, 'src'), resultsUrl: join(dir, 'results') });
  lister.start('l1');
  lister.start('l1');
  await lister.idle();
  assert.deepEqual(queues.enqueued.map((entry) => entry.spec.jobId).sort(), ['a.jpg', 'c.webp', 'sub/b.png'].map((key) => deriveJobId('l1', key)).sort());
  assert.ok(queues.enqueued.every((entry) => entry.route.kind === 'pixels' && entry.spec.data.results === join(dir, 'results')));
  const batch = (await batches.get('l1'))!;
  assert.deepEqual([batch.state, batch.total, batch.skipped, batch.listerActive], ['running', 3, 1, false]);
  assert.deepEqual(queues.finalizeTriggers, []);
});

test('a listing resumed after every input finished triggers finalize, and does not enqueue inputs with an outcome', async () => {
  await batches.create({ id: 'l2', task: 'inspect', source: { keys: ['x.jpg', 'y.jpg'], bucket: 'b' }, sourceStore: 's3://b', resultsUrl: join(dir, 'results') });
  // A first lister enqueued both and died before recording the page; both inputs finished since.
  await batches.recordOutcome('l2', deriveJobId('l2', 'x.jpg'), 'x.jpg', 'ok');
  await batches.recordOutcome('l2', deriveJobId('l2', 'y.jpg'), 'y.jpg', 'ok');
  const before = queues.enqueued.length;
  lister.start('l2');
  await lister.idle();
  assert.equal(queues.enqueued.length, before);
  assert.equal((await batches.get('l2'))?.state, 'running');
  assert.deepEqual(queues.finalizeTriggers, ['l2']);
});

test('a listing held by another producer is left alone', async () => {
  await batches.create({ id: 'l3', task: 'inspect', source: { keys: ['z.jpg'], bucket: 'b' }, sourceStore: 's3://b', resultsUrl: join(dir, 'results') });
  assert.equal(await batches.acquireListerLock('l3', 'other-producer', 5000), true);
  lister.start('l3');
  await lister.idle();
  assert.deepEqual([(await batches.get('l3'))?.state, (await batches.get('l3'))?.total], ['listing', 0]);
});
