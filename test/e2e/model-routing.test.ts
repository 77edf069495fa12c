import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BatchStatus } from '@imagefleet/core';
import type { FleetModel } from '@imagefleet/jobs';
import { batchStatus, waitForBatchEnd } from '../helpers/producer.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { waitFor } from '../helpers/processes.js';
import { syntheticPhoto } from '../helpers/images.js';
import { useTinyModelServices } from '../helpers/tiny-model-fleet.js';
import type { WorkerProcess } from '../helpers/worker-process.js';

/**
 * Model routing with real workers: two (or three) worker processes with different MODEL_IDs over
 * one generated tiny model. Which worker ran a job is read from each worker's own /metrics
 * (imagefleet_jobs_total counts only the jobs that process finished).
 */
const PHOTOS = 12;
const shared = useTinyModelServices('routing', {
  async setup({ stores }) {
    const photos = stores.open('s3://photos');
    await Promise.all(Array.from({ length: PHOTOS }, async (_, i) => photos.put(`r/${String(i).padStart(2, '0')}.jpg`, await syntheticPhoto(900 + i, 160, 120))));
  },
});

/** One engine thread, one slot: several workers share 2 cores with other test files. */
async function fleet() {
  const { services, stores, prefixes, tiny } = shared;
  return startTestFleet(services, stores, prefixes, { ENGINE: 'llama', MODEL_PATH: tiny.model, MMPROJ_PATH: tiny.mmproj, ENGINE_THREADS: '1', ENGINE_SLOTS: '1', HEARTBEAT_MS: '500' });
}

type Fleet = Awaited<ReturnType<typeof fleet>>;

const photoKeys = (first: number, count: number) => ({ keys: Array.from({ length: count }, (_, i) => `r/${String(first + i).padStart(2, '0')}.jpg`), bucket: 'photos' });

async function models(f: Fleet): Promise<FleetModel[]> {
  const response = await f.producer.app.inject({ url: '/v1/models' });
  assert.equal(response.statusCode, 200, response.body);
  return response.json<{ models: FleetModel[] }>().models;
}

/** Starts a worker with this MODEL_ID; resolves once its heartbeat lists it under that model. */
async function startModelWorker(f: Fleet, modelId: string): Promise<WorkerProcess> {
  const worker = f.startWorker({ MODEL_ID: modelId });
  await waitFor(async () => {
    if (worker.child.exitCode !== null) throw new Error(`the worker exited: ${worker.child.output()}`);
    return (await models(f)).some((model) => model.modelId === modelId && model.workers.some((heartbeat) => heartbeat.workerId.endsWith(`:${worker.child.pid}`)));
  }, 120_000, `a worker of ${modelId}`);
  return worker;
}

/** Caption jobs this worker process finished ok, from its own /metrics (0 before its first). */
async function captionsBy(worker: WorkerProcess): Promise<number> {
  const health = String(worker.lines.find((line) => line.msg === 'worker started')!.health);
  const metrics = await (await fetch(`${health}/metrics`)).text();
  return Number(/^imagefleet_jobs_total\{[^}]*task="caption",outcome="ok"[^}]*\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
}

async function submit(f: Fleet, body: Record<string, unknown>): Promise<string> {
  return f.submit({ task: 'caption', ...body });
}

async function completed(f: Fleet, batchId: string, total: number): Promise<BatchStatus> {
  const status = await waitForBatchEnd(f.producer, batchId, 300_000);
  assert.deepEqual([status.state, status.total, status.completed], ['completed', total, total], JSON.stringify(status));
  return status;
}

test('a batch naming a model runs only on that model\'s worker; a batch without one on either', async () => {
  const f = await fleet();
  try {
    const [alpha, beta] = await Promise.all([startModelWorker(f, 'alpha:2b'), startModelWorker(f, 'beta-8b')]);
    const alphaBatch = await submit(f, { source: photoKeys(0, 4), model: 'alpha:2b' });
    assert.equal((await completed(f, alphaBatch, 4)).model, 'alpha:2b');
    assert.deepEqual([await captionsBy(alpha), await captionsBy(beta)], [4, 0]);

    await completed(f, await submit(f, { source: photoKeys(4, 4), model: 'beta-8b' }), 4);
    assert.deepEqual([await captionsBy(alpha), await captionsBy(beta)], [4, 4]);

    // Without a model: the shared queue, which both consume.
    await completed(f, await submit(f, { source: photoKeys(0, PHOTOS) }), PHOTOS);
    assert.equal((await captionsBy(alpha)) + (await captionsBy(beta)), 8 + PHOTOS);

    // The model queues are counted: the facade, the sampled metrics, GET /v1/models.
    const counts = await f.producer.deps.jobs.counts();
    assert.deepEqual(counts.filter((entry) => entry.model !== undefined).map((entry) => [entry.queue, entry.counts.completed]), [['vlm-alpha+2b', 4], ['vlm-beta-8b', 4]]);
    await f.producer.sampler.sample();
    const metrics = (await f.producer.app.inject({ url: '/metrics' })).body;
    assert.match(metrics, /imagefleet_queue_jobs\{queue="vlm-alpha\+2b",state="completed"[^}]*\} 4\b/);
    assert.match(metrics, /imagefleet_queue_jobs\{queue="vlm-beta-8b",state="completed"[^}]*\} 4\b/);
    assert.deepEqual((await models(f)).map((model) => [model.modelId, model.totals.workers, model.queue]), [
      ['alpha:2b', 1, { waiting: 0, active: 0 }],
      ['beta-8b', 1, { waiting: 0, active: 0 }],
    ]);
  } finally {
    await f.close();
  }
});

test('a batch naming a model no live worker serves waits for one; a worker of that model started afterwards drains it', async () => {
  const f = await fleet();
  try {
    const alpha = await startModelWorker(f, 'alpha-2b');
    const batchId = await submit(f, { source: photoKeys(0, 5), model: 'gamma-1' });
    let status: BatchStatus | undefined;
    await waitFor(async () => (status = await batchStatus(f.producer, batchId)).state === 'running', 30_000, 'the batch listed');
    assert.equal(status!.waitingFor, 'worker');
    assert.equal(status!.detail, "no live worker serves model gamma-1 (the fleet serves alpha-2b); its inputs wait in that model's queue until a worker with MODEL_ID=gamma-1 starts");
    assert.deepEqual((await models(f)).find((model) => model.modelId === 'gamma-1'), { modelId: 'gamma-1', workers: [], totals: { workers: 0, slots: 0, imagesPerSecond: 0 }, queue: { waiting: 5, active: 0 } });

    const gamma = await startModelWorker(f, 'gamma-1');
    assert.equal((await completed(f, batchId, 5)).waitingFor, null);
    assert.deepEqual([await captionsBy(gamma), await captionsBy(alpha)], [5, 0]);
  } finally {
    await f.close();
  }
});
