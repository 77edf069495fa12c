import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImagefleetError } from '@imagefleet/core';
import { BatchOptionsCache } from '@imagefleet/worker';

/** Batch records as JSON text, and how often each was read. */
function records(options: Record<string, string>) {
  const reads: string[] = [];
  return { reads, read: async (batchId: string) => (reads.push(batchId), options[batchId]) };
}

test('options are read once per batch and kept, least recently used dropped first', async () => {
  const store = records({ a: '{"n":1}', b: '{"n":2}', c: '{"n":3}' });
  const cache = new BatchOptionsCache(store.read, { entries: 2, chars: 1e6 });
  assert.deepEqual(await cache.get('a'), { n: 1 });
  assert.deepEqual(await cache.get('a'), { n: 1 });
  await cache.get('b');
  await cache.get('a');
  await cache.get('c');
  assert.equal(cache.size, 2);
  await cache.get('a');
  await cache.get('b');
  assert.deepEqual(store.reads, ['a', 'b', 'c', 'b']);
});

test('the cache holds at most `chars` of options (one oversized batch stays alone)', async () => {
  const big = JSON.stringify({ description: 'x'.repeat(5000) });
  const store = records({ big, small: '{}' });
  const cache = new BatchOptionsCache(store.read, { entries: 10, chars: 4000 });
  await cache.get('small');
  await cache.get('big');
  assert.equal(cache.size, 1);
});

test('a batch whose record is gone fails its job as invalid_job', async () => {
  const cache = new BatchOptionsCache(records({}).read);
  await assert.rejects(cache.get('gone'), (error: unknown) => error instanceof ImagefleetError && error.code === 'invalid_job');
});
