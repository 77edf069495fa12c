import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { BatchRegistry, toBatchStatus } from '@imagefleet/jobs';
import { deleteRedisPrefix, startServices, type TestServices } from '../helpers/services.js';

let services: TestServices;
let redis: Redis;
let registry: BatchRegistry;
const prefix = `test_registry_${process.pid}`;

before(async () => {
  services = await startServices();
  redis = new Redis(services.redisUrl);
  registry = new BatchRegistry(redis, prefix, 3600);
});
after(async () => {
  redis?.disconnect();
  if (services) {
    await deleteRedisPrefix(services.redisUrl, prefix);
    await services.stop();
  }
});

const request = (id: string) => ({ id, task: 'inspect', source: { keys: ['a.jpg'], bucket: 'bkt' }, sourceStore: 's3://bkt', resultsUrl: '/tmp/r' });

test('create is idempotent', async () => {
  assert.equal(await registry.create(request('b1')), true);
  assert.equal(await registry.create(request('b1')), false);
  const batch = await registry.get('b1');
  assert.equal(batch?.state, 'listing');
  assert.deepEqual(batch?.source, { keys: ['a.jpg'], bucket: 'bkt' });
});

test('outcomes count once per job; completion needs the listing to be finished', async () => {
  await registry.create(request('b2'));
  await registry.recordPage('b2', { enqueued: 3, skipped: 1, cursor: 'c.jpg' });
  assert.deepEqual(await registry.recordOutcome('b2', 'j1', 'a.jpg', 'ok'), { added: true, complete: false });
  assert.deepEqual(await registry.recordOutcome('b2', 'j1', 'a.jpg', 'ok'), { added: false, complete: false });
  assert.deepEqual(await registry.recordOutcome('b2', 'j2', 'b.jpg', 'failed'), { added: true, complete: false });
  assert.deepEqual(await registry.recordOutcome('b2', 'j3', 'c.jpg', 'ok'), { added: true, complete: false });
  // All three done, but the source is not fully listed yet: not complete.
  assert.equal(await registry.finishListing('b2'), true);
  const batch = (await registry.get('b2'))!;
  assert.deepEqual([batch.total, batch.completed, batch.failed, batch.skipped, batch.state, batch.cursor], [3, 2, 1, 1, 'running', 'c.jpg']);
  assert.deepEqual(await registry.outcome('b2', 'j2'), { status: 'failed', key: 'b.jpg' });
  assert.deepEqual([...(await registry.finishedJobIds('b2', ['j1', 'jx', 'j3']))], ['j1', 'j3']);
  // A duplicate run after completion still reports complete (so a lost finalize is re-enqueued) but does not count.
  assert.deepEqual(await registry.recordOutcome('b2', 'j3', 'c.jpg', 'ok'), { added: false, complete: true });
  assert.equal(await registry.markFinished('b2', 'completed_with_errors'), true);
  assert.equal(await registry.markFinished('b2', 'completed'), false);
  // The index holds unfinished batches only: the producer's scans never see finished ones.
  assert.equal(await redis.zscore(`${prefix}:batches`, 'b2'), null);
  assert.ok(!(await registry.activeBatches(1000)).some((batch) => batch.id === 'b2'));
  assert.ok((await registry.listingBatchIds()).includes('b1'));
  const finished = (await registry.get('b2'))!;
  assert.equal(finished.state, 'completed_with_errors');
  const ttl = await redis.ttl(`${prefix}:batch:b2`);
  assert.ok(ttl > 3000 && ttl <= 3600, `ttl ${ttl}`);
  const status = toBatchStatus(finished);
  assert.equal(status.eta, 0);
  assert.ok(status.throughput > 0);
});

test('concurrent outcomes from many workers are counted exactly once each', async () => {
  await registry.create(request('b3'));
  await registry.recordPage('b3', { enqueued: 200, skipped: 0, cursor: undefined });
  await registry.finishListing('b3');
  const clients = Array.from({ length: 4 }, () => new BatchRegistry(new Redis(services.redisUrl), prefix, 3600));
  // Every job reported twice, by different clients, interleaved.
  const reports = await Promise.all(
    Array.from({ length: 400 }, (_, i) => clients[i % 4]!.recordOutcome('b3', `j${i % 200}`, `k${i % 200}`, 'ok')),
  );
  assert.equal(reports.filter((report) => report.added).length, 200);
  const batch = (await registry.get('b3'))!;
  assert.equal(batch.completed, 200);
  assert.ok(reports.some((report) => report.complete));
  for (const client of clients) (client as unknown as { redis: Redis }).redis.disconnect();
});

test('cancel stops counting toward completion and rejects further pages', async () => {
  await registry.create(request('b4'));
  assert.equal(await registry.cancel('b4'), 'cancelled');
  assert.equal(await redis.zscore(`${prefix}:batches`, 'b4'), null);
  assert.equal(await registry.recordPage('b4', { enqueued: 5, skipped: 0, cursor: 'x' }), false);
  assert.equal(await registry.cancel('b4'), 'finished');
  assert.equal(await registry.cancel('nope'), 'missing');
  assert.equal((await registry.get('b4'))!.total, 0);
});

test('the lister lock has one holder at a time', async () => {
  assert.equal(await registry.acquireListerLock('b5', 'one', 10_000), true);
  assert.equal(await registry.acquireListerLock('b5', 'two', 10_000), false);
  assert.equal(await registry.renewListerLock('b5', 'two', 10_000), false);
  assert.equal(await registry.renewListerLock('b5', 'one', 10_000), true);
  await registry.releaseListerLock('b5', 'two');
  assert.equal(await registry.acquireListerLock('b5', 'two', 10_000), false);
  await registry.releaseListerLock('b5', 'one');
  assert.equal(await registry.acquireListerLock('b5', 'two', 10_000), true);
});
