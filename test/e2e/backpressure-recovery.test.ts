import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BatchStatus } from '@imagefleet/core';
import { createJobBackend } from '@imagefleet/jobs';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { readManifest } from '../helpers/manifest.js';
import { waitForBatchEnd } from '../helpers/producer.js';
import { usePhotoWorld } from '../helpers/photo-world.js';
import { stopProcess, waitFor } from '../helpers/processes.js';
import { startSampling } from '../helpers/sampling.js';
import { assertBacklogBounded, readBacklog } from '../helpers/backlog.js';
import { metricsAt, waitForIdleFleet, workerStageCount } from '../helpers/fleet-metrics.js';
import { spawnProducer, spawnWorker, type ProducerProcess } from '../helpers/worker-process.js';

const LIMIT = 20;
const CONCURRENCY = 2;
const KEYS = Array.from({ length: 100 }, (_, i) => `bk/${String(i).padStart(3, '0')}.jpg`);
const world = usePhotoWorld(KEYS, 500);

test('a producer SIGKILLed while its listing is paused under backpressure: another producer resumes it, no input missing or done twice', async () => {
  const env = testEnv(world.services, { LISTING_AHEAD: String(LIMIT), WORKER_CONCURRENCY: String(CONCURRENCY), LISTER_LOCK_MS: '3000', RECONCILE_INTERVAL_MS: '500', QUEUE_SAMPLE_MS: '250' });
  world.prefixes.push(env.QUEUE_PREFIX!);
  const config = testConfig(env);
  const backend = createJobBackend(config, 'test-backpressure-recovery');
  const producers: ProducerProcess[] = [];
  let worker: ReturnType<typeof spawnWorker> | undefined;
  try {
    const first = await spawnProducer(env);
    producers.push(first);
    const batchId = await first.submit({ task: 'inspect', source: { s3: { bucket: 'photos', prefix: 'bk/' } } });
    let status: BatchStatus | undefined;
    await waitFor(async () => {
      status = await first.status(batchId);
      return status.waitingFor === 'room' && status.total === LIMIT;
    }, 30_000, `the listing to pause for room: ${JSON.stringify(status)}`);
    const sampling = startSampling(() => readBacklog(backend, batchId), 10);

    first.child.kill('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');
    // Its inputs drain while nobody lists; then another producer takes the listing over from the cursor.
    worker = spawnWorker(env);
    const second = await spawnProducer(env);
    producers.push(second);
    const end = await waitForBatchEnd(second, batchId, 120_000);
    assertBacklogBounded(await sampling.stop(), LIMIT, CONCURRENCY);

    assert.deepEqual([end.state, end.total, end.completed, end.failed], ['completed', KEYS.length, KEYS.length, 0]);
    const keys = (await readManifest(world.stores, config.resultsUrl, batchId)).map((line) => line.key);
    assert.equal(new Set(keys).size, keys.length, 'a key appears twice in the manifest');
    assert.deepEqual(keys.sort(), KEYS);
    await waitForIdleFleet(metricsAt(second.url), { jobs: KEYS.length });
    assert.equal(await workerStageCount(worker, 'fetch'), KEYS.length, 'an input was analysed twice');
  } finally {
    await Promise.all(producers.map((producer) => stopProcess(producer.child, 'SIGTERM', 10_000)));
    if (worker) await stopProcess(worker.child, 'SIGTERM', 20_000);
    await backend.close();
  }
});
