import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { BatchRegistry, toBatchStatus, scriptNames } from '@imagefleet/jobs';
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
  assert.equal(await registry.recordPage('b2', { enqueued: 3, skipped: 1, after: undefined, cursor: 'c.jpg' }), 'recorded');
  // A second lister that read the same page finds the cursor moved and records nothing.
  assert.equal(await registry.recordPage('b2', { enqueued: 3, skipped: 1, after: undefined, cursor: 'c.jpg' }), 'cursor_moved');
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
  assert.equal(await registry.markFinished('b2', 'completed_with_errors'), 'finished');
  assert.equal(await registry.markFinished('b2', 'completed'), 'not_running');
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
  await registry.recordPage('b3', { enqueued: 200, skipped: 0, after: undefined, cursor: 'end' });
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
  assert.equal(await registry.recordPage('b4', { enqueued: 5, skipped: 0, after: undefined, cursor: 'x' }), 'not_listing');
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

test('create repairs a hash left with only its id by an interrupted two-step create (the old HSETNX, then MULTI)', async () => {
  await redis.hset(`${prefix}:batch:b6`, 'id', 'b6');
  assert.equal(await registry.create(request('b6')), true);
  const batch = await registry.get('b6');
  assert.equal(batch?.state, 'listing');
  assert.equal(batch?.task, 'inspect');
  assert.notEqual(await redis.zscore(`${prefix}:batches`, 'b6'), null);
  assert.equal(await registry.create(request('b6')), false);
});

test('every Lua script is one registered command (defineCommand), loaded from its own file', async () => {
  for (const name of scriptNames) assert.equal(typeof (redis as unknown as Record<string, unknown>)[`imagefleet_${name}`], 'function', name);
  const files = readdirSync(new URL('../../../packages/jobs/lua/', import.meta.url)).sort();
  assert.deepEqual(files.map((file) => file.replace(/-\d+\.lua$/, '')), [...scriptNames].sort());
});

test('a claimed outcome waits as pending until its object is stored; a stale claim changes nothing', async () => {
  await registry.create(request('b7'));
  await registry.recordPage('b7', { enqueued: 2, skipped: 0, after: undefined, cursor: 'end' });
  await registry.finishListing('b7');
  const ok = { key: 'a.jpg', status: 'ok' as const, result: { width: 1 } };
  assert.deepEqual(await registry.claimOutcome('b7', 'j1', ok, 'token-1'), { added: true, mine: true, complete: false });
  // The same attempt asking again still owns it; another attempt does not.
  assert.deepEqual(await registry.claimOutcome('b7', 'j1', ok, 'token-1'), { added: false, mine: true, complete: false });
  const stale = { key: 'a.jpg', status: 'failed' as const, error: { code: 'not_found' as const, message: 'gone' } };
  assert.deepEqual(await registry.claimOutcome('b7', 'j1', stale, 'token-2'), { added: false, mine: false, complete: false });
  assert.equal(await registry.pendingLine('b7', 'j1'), JSON.stringify(ok));
  assert.deepEqual(await registry.outcome('b7', 'j1'), { status: 'ok', key: 'a.jpg' });
  assert.equal((await registry.claimOutcome('b7', 'j2', { key: 'b.jpg', status: 'ok' }, 't')).complete, true);
  // Finishing waits for the objects: the batch says so, and finishes once they are stored.
  assert.equal(await registry.markFinished('b7', 'completed'), 'pending_results');
  assert.equal((await registry.get('b7'))?.pendingResults, 2);
  assert.equal(toBatchStatus((await registry.get('b7'))!).waitingFor, 'finalizing');
  await registry.resultStored('b7', 'j1');
  await registry.resultStored('b7', 'j2');
  assert.equal(await registry.markFinished('b7', 'completed'), 'finished');
  const finished = (await registry.get('b7'))!;
  assert.deepEqual([finished.completed, finished.failed, finished.state], [2, 0, 'completed']);
});

test('batch status says what a batch waits for: a lister, storage, finalizing', async () => {
  await registry.create(request('b8'));
  assert.equal(toBatchStatus((await registry.get('b8'))!).waitingFor, 'lister');
  assert.equal(await registry.acquireListerLock('b8', 'me', 10_000), true);
  assert.equal(toBatchStatus((await registry.get('b8'))!).waitingFor, null);
  await registry.recordPage('b8', { enqueued: 1, skipped: 0, after: undefined, cursor: 'end' });
  await registry.finishListing('b8');
  await registry.releaseListerLock('b8', 'me');
  const now = Date.now();
  await registry.note('b8', { storageWaitAt: now, storageError: 'S3 GET a.jpg failed: ECONNREFUSED' });
  const waiting = toBatchStatus((await registry.get('b8'))!, now);
  assert.equal(waiting.waitingFor, 'storage');
  assert.match(waiting.detail ?? '', /ECONNREFUSED/);
  await registry.recordOutcome('b8', 'j1', 'a.jpg', 'ok');
  await registry.note('b8', { finalizeError: 'S3 PUT manifest.jsonl failed' });
  const finalizing = toBatchStatus((await registry.get('b8'))!, now);
  assert.equal(finalizing.waitingFor, 'finalizing');
  assert.match(finalizing.detail ?? '', /manifest.jsonl failed/);
  // Notes never bring back a batch that is gone.
  await registry.note('nope', { storageWaitAt: now });
  assert.equal(await redis.exists(`${prefix}:batch:nope`), 0);
});
