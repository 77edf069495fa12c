import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchStatus, ResultLine } from '@imagefleet/core';
import { resultCachePath, type ResultCacheEntry } from '@imagefleet/storage';
import { waitForBatchEnd } from '../helpers/producer.js';
import { useModelWorld } from '../helpers/model-world.js';
import { stopProcess, waitFor } from '../helpers/processes.js';
import { syntheticPhoto } from '../helpers/images.js';
import { metricSum, workerMetricsOf, workerUrl } from '../helpers/fleet-metrics.js';
import type { WorkerProcess } from '../helpers/worker-process.js';

/**
 * The result cache through the whole fleet: a real producer, real worker processes running the
 * generated tiny model on llama.cpp (llama.node), Redis and s3rver. Engine calls are counted by
 * the worker's own /metrics (imagefleet_engine_requests_total), never from logs.
 */
const IMAGES = 6;
const names = Array.from({ length: IMAGES }, (_, i) => `${String(i).padStart(2, '0')}.jpg`);
const { world, fleet } = useModelWorld('cache', ['results', 'uploads', 'shop'], async ({ stores }) => {
  const shop = stores.open('s3://shop');
  const photos = await Promise.all(names.map((_, i) => syntheticPhoto(700 + i, 320, 240)));
  // monday/ and a copy, tuesday/, where one image changed: the nightly re-run the cache is for.
  await Promise.all(names.map((name, i) => shop.put(`monday/${name}`, photos[i]!)));
  await Promise.all(names.map(async (name, i) => shop.put(`tuesday/${name}`, i === 3 ? await syntheticPhoto(799, 320, 240) : photos[i]!)));
});

const engineRequests = async (worker: WorkerProcess) => metricSum(await workerMetricsOf(worker), 'imagefleet_engine_requests_total');

test('re-runs hit the result cache: no engine calls for known bytes; a changed image, other options, another model or RESULT_CACHE=off miss', async () => {
  const f = await fleet();
  const results = world.stores.open(f.config.resultsUrl);
  const run = async (source: string, extra: Record<string, unknown> = {}): Promise<{ status: BatchStatus; lines: Map<string, ResultLine> }> => {
    const batchId = await f.submit({ task: 'tagging', source: { s3: { bucket: 'shop', prefix: `${source}/` } }, ...extra });
    const status = await waitForBatchEnd(f.producer, batchId, 180_000);
    assert.deepEqual([status.state, status.total, status.completed], ['completed', IMAGES, IMAGES], JSON.stringify(status));
    const lines = new Map((await f.manifest(batchId)).map((line) => [line.key.slice(source.length + 1), line]));
    return { status, lines };
  };
  try {
    let worker = f.startWorker();
    const first = await run('monday');
    assert.deepEqual([first.status.cached, first.status.cacheHitRate], [0, 0]);
    assert.ok([...first.lines.values()].every((line) => line.cached === undefined && line.cachedFrom === undefined));
    const coldRequests = await engineRequests(worker);
    assert.ok(coldRequests >= IMAGES, `cold run: ${coldRequests} engine requests`);
    // Each fresh result left one entry in the results store, naming its batch.
    const entries = [];
    for await (const page of results.list('_result-cache/')) entries.push(...page);
    assert.equal(entries.length, IMAGES);
    const entry = JSON.parse((await results.get(entries[0]!.key, { maxBytes: 1e6 })).toString()) as ResultCacheEntry;
    assert.equal(entries[0]!.key, resultCachePath(entry.key));
    assert.equal(entry.batchId, first.status.id);
    assert.equal(Date.parse(entry.expiresAt) - Date.parse(entry.createdAt), 30 * 86_400_000, 'RESULT_CACHE_TTL_DAYS defaults to 30');

    // The same prefix again as another batch (an explicit batch id, as a nightly job names its run): all hits, no engine call.
    const again = await run('monday', { batchId: 'monday_rerun' });
    assert.deepEqual([again.status.cached, again.status.cacheHitRate], [IMAGES, 1]);
    assert.equal(await engineRequests(worker), coldRequests, 'a re-run over the same bytes calls the engine');
    for (const name of names) {
      const line = again.lines.get(name)!;
      assert.equal(line.cached, true);
      assert.deepEqual(line.cachedFrom, { batchId: first.status.id });
      assert.deepEqual(line.result, first.lines.get(name)!.result, `${name}: the cached result is the first run's`);
    }
    const metrics = await workerMetricsOf(worker);
    assert.equal(metricSum(metrics, 'imagefleet_result_cache_hits_total', { task: 'tagging' }), IMAGES);
    assert.equal(metricSum(metrics, 'imagefleet_result_cache_misses_total', { task: 'tagging' }), IMAGES);
    assert.equal(metricSum(metrics, 'imagefleet_result_cache_write_failures_total'), 0);

    // A copy under other keys with one image changed: the content counts, not the key; the changed one misses.
    const tuesday = await run('tuesday');
    assert.deepEqual([tuesday.status.cached, tuesday.status.completed], [IMAGES - 1, IMAGES]);
    assert.deepEqual(names.filter((name) => !tuesday.lines.get(name)!.cached), [names[3]]);
    const afterTuesday = await engineRequests(worker);
    assert.ok(afterTuesday > coldRequests && afterTuesday <= coldRequests + 2, `one changed image: ${afterTuesday - coldRequests} engine requests`);

    // Other options: another key.
    const otherOptions = await run('monday', { options: { maxTags: 4 } });
    assert.equal(otherOptions.status.cached, 0);
    assert.ok((await engineRequests(worker)) >= afterTuesday + IMAGES);

    // Another model (MODEL_ID), then RESULT_CACHE=off: no hits, every input runs the engine.
    for (const [env, batchId] of [[{ MODEL_ID: 'tiny-relabelled' }, 'monday_other_model'], [{ RESULT_CACHE: 'off' }, 'monday_cache_off']] as const) {
      await stopProcess(worker.child, 'SIGTERM', 20_000);
      worker = f.startWorker(env);
      await waitFor(() => workerUrl(worker) !== undefined, 120_000, 'the worker to start');
      const missed = await run('monday', { batchId });
      assert.deepEqual([missed.status.cached, missed.status.cacheHitRate], [0, 0], batchId);
      assert.ok([...missed.lines.values()].every((line) => line.cached === undefined), batchId);
      assert.ok((await engineRequests(worker)) >= IMAGES, `${batchId}: engine requests`);
      assert.equal(metricSum(await workerMetricsOf(worker), 'imagefleet_result_cache_hits_total'), 0, batchId);
    }
  } finally {
    await f.close();
  }
});

test('a cache entry that cannot be written is counted and never fails its job', async () => {
  const results = join(world.dir, 'results-local');
  mkdirSync(results);
  writeFileSync(join(results, '_result-cache'), 'a file where the cache folder would go');
  const f = await fleet({ RESULTS_URL: results });
  try {
    const worker = f.startWorker();
    const batchId = await f.submit({ task: 'caption', source: { s3: { bucket: 'shop', prefix: 'monday/' } } });
    const status = await waitForBatchEnd(f.producer, batchId, 180_000);
    assert.deepEqual([status.state, status.completed, status.cached], ['completed', IMAGES, 0]);
    const metrics = await workerMetricsOf(worker);
    assert.equal(metricSum(metrics, 'imagefleet_result_cache_write_failures_total', { task: 'caption' }), IMAGES);
    assert.equal(metricSum(metrics, 'imagefleet_jobs_total', { task: 'caption', outcome: 'ok' }), IMAGES);
  } finally {
    await f.close();
  }
});
