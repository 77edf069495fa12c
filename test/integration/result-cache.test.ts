import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { BatchRegistry, toBatchStatus } from '@imagefleet/jobs';
import { LocalBlobStore, ResultCache, resultCacheKey, resultCachePath } from '@imagefleet/storage';
import { deleteRedisPrefix, startServices, type TestServices } from '../helpers/services.js';

let services: TestServices;
let redis: Redis;
let registry: BatchRegistry;
let dir: string;
const prefix = `test_result_cache_${process.pid}`;

before(async () => {
  services = await startServices();
  redis = new Redis(services.redisUrl);
  registry = new BatchRegistry(redis, prefix, 3600);
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-result-cache-'));
});
after(async () => {
  redis?.disconnect();
  rmSync(dir, { recursive: true, force: true });
  if (services) {
    await deleteRedisPrefix(services.redisUrl, prefix);
    await services.stop();
  }
});

const parts = { sourceSha256: 'a'.repeat(64), task: 'tagging', taskVersion: 1, options: { maxTags: 4, taxonomy: ['bags', 'toys'] }, modelId: 'qwen3-vl-2b-1a2b3c' };

test('the key covers every part; option key order does not matter', () => {
  const key = resultCacheKey(parts);
  assert.match(key, /^[0-9a-f]{64}$/);
  assert.equal(resultCacheKey({ ...parts, options: { taxonomy: ['bags', 'toys'], maxTags: 4 } }), key);
  const changed = [
    { ...parts, sourceSha256: 'b'.repeat(64) },
    { ...parts, task: 'caption' },
    { ...parts, taskVersion: 2 },
    { ...parts, options: { maxTags: 5, taxonomy: ['bags', 'toys'] } },
    { ...parts, options: { maxTags: 4, taxonomy: ['toys', 'bags'] } },
    { ...parts, modelId: 'qwen3-vl-8b-1a2b3c' },
  ];
  assert.equal(new Set(changed.map(resultCacheKey).concat(key)).size, changed.length + 1);
  assert.equal(resultCachePath(key), `_result-cache/${key.slice(0, 2)}/${key}.json`);
});

test('an entry is found until it expires; a stale, foreign or unreadable entry is a miss and is overwritten', async () => {
  const store = new LocalBlobStore(join(dir, 'results'));
  const cache = new ResultCache(30);
  const key = resultCacheKey(parts);
  const day = 86_400_000;
  const t0 = Date.parse('2026-11-01T00:00:00Z');
  assert.equal(await cache.lookup(store, key, t0), undefined, 'nothing stored yet');
  await cache.save(store, key, parts, { batchId: 'b1', sourceKey: 'a.jpg', result: { output: { tags: ['x'] } } }, t0);
  const hit = await cache.lookup(store, key, t0 + 29 * day);
  assert.deepEqual([hit?.batchId, hit?.sourceKey, hit?.result], ['b1', 'a.jpg', { output: { tags: ['x'] } }]);
  assert.equal(hit?.expiresAt, new Date(t0 + 30 * day).toISOString());
  assert.equal(await cache.lookup(store, key, t0 + 30 * day), undefined, 'expired');
  await cache.save(store, key, parts, { batchId: 'b2', sourceKey: 'a.jpg', result: 2 }, t0 + 31 * day);
  assert.equal((await cache.lookup(store, key, t0 + 31 * day))?.batchId, 'b2', 'an expired entry is overwritten');
  // Stored under another key's path (copied by hand), cut short, or not JSON: misses.
  const other = resultCacheKey({ ...parts, taskVersion: 7 });
  const path = join(dir, 'results', resultCachePath(other));
  mkdirSync(dirname(path), { recursive: true });
  for (const body of [JSON.stringify({ ...hit, key }), '{"format":1,', 'not json', JSON.stringify({ format: 2, key: other })]) {
    writeFileSync(path, body);
    assert.equal(await cache.lookup(store, other, t0), undefined, body);
  }
});

test("the batch's cached counter counts a cached outcome once, never a fresh one; the status gives the hit rate", async () => {
  await registry.create({ id: 'c1', task: 'tagging', source: { keys: ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'], bucket: 'bkt' }, sourceStore: 's3://bkt', resultsUrl: '/tmp/r' });
  await registry.recordPage('c1', { enqueued: 4, skipped: 0, after: undefined, cursor: 'end' });
  await registry.finishListing('c1');
  const cachedLine = (key: string) => ({ key, status: 'ok' as const, result: {}, cached: true as const, cachedFrom: { batchId: 'c0' } });
  assert.equal((await registry.claimOutcome('c1', 'j1', cachedLine('a.jpg'), 't1')).added, true);
  // The same attempt again, and a later attempt of the same job: recorded once, counted once.
  assert.equal((await registry.claimOutcome('c1', 'j1', cachedLine('a.jpg'), 't1')).added, false);
  assert.equal((await registry.claimOutcome('c1', 'j1', cachedLine('a.jpg'), 't2')).added, false);
  await registry.claimOutcome('c1', 'j2', { key: 'b.jpg', status: 'ok', result: {} }, 't1');
  await registry.claimOutcome('c1', 'j3', { key: 'c.jpg', status: 'failed', error: { code: 'corrupt_image', message: 'x' } }, 't1');
  let status = toBatchStatus((await registry.get('c1'))!);
  assert.deepEqual([status.completed, status.failed, status.cached, status.cacheHitRate], [2, 1, 1, 0.3333]);
  await registry.recordOutcome('c1', 'j4', 'd.jpg', 'failed');
  status = toBatchStatus((await registry.get('c1'))!);
  assert.deepEqual([status.cached, status.cacheHitRate], [1, 0.25]);
});
