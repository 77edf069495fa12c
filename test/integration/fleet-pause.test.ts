import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { batchStatus, waitForBatchEnd } from '../helpers/producer.js';
import { usePhotoWorld } from '../helpers/photo-world.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { readBacklog } from '../helpers/backlog.js';
import { waitFor } from '../helpers/processes.js';
import { workerStageCount } from '../helpers/fleet-metrics.js';
import { apiKey } from '../helpers/http.js';

/** The fleet-wide pause, and who may pause, resume and retry what (scopes, tenants, states). */
const KEYS = Array.from({ length: 8 }, (_, i) => `fp/${i}.jpg`);
const world = usePhotoWorld(KEYS, 800);

test('while the fleet is paused no image job starts, yet finalize runs; resumed, the queue drains', async () => {
  const f = await startTestFleet(world.services, world.stores, world.prefixes);
  try {
    const pause = await f.producer.app.inject({ method: 'POST', url: '/v1/fleet/pause' });
    assert.equal(pause.statusCode, 200, pause.body);
    assert.equal(pause.json().paused, true);
    assert.deepEqual((await f.producer.app.inject({ url: '/v1/fleet' })).json().queues.map((queue: { paused: boolean }) => queue.paused), [true, true]);

    const held = await f.submit({ task: 'inspect', source: { keys: KEYS, bucket: 'photos' } });
    const worker = f.startWorker();
    // A batch without images goes straight to finalize: once it has finished, the worker is consuming.
    const empty = await f.submit({ task: 'inspect', source: { keys: ['fp/readme.txt'], bucket: 'photos' } });
    assert.equal((await waitForBatchEnd(f.producer, empty, 60_000)).state, 'completed');
    const status = await batchStatus(f.producer, held);
    assert.deepEqual([status.state, status.completed, status.failed], ['running', 0, 0]);
    assert.deepEqual(await readBacklog(f.producer.deps, held), { counted: KEYS.length, queued: KEYS.length, active: 0 });
    assert.equal(await workerStageCount(worker, 'fetch'), 0, 'a job started while the fleet was paused');

    // A running batch can be neither resumed nor retried.
    assert.equal((await f.producer.app.inject({ method: 'POST', url: `/v1/batches/${held}/resume` })).statusCode, 409);
    const retry = await f.producer.app.inject({ method: 'POST', url: `/v1/batches/${held}/retry` });
    assert.deepEqual([retry.statusCode, retry.json().error], [409, 'conflict']);

    const resume = await f.producer.app.inject({ method: 'POST', url: '/v1/fleet/resume' });
    assert.deepEqual([resume.statusCode, resume.json().paused], [200, false]);
    const done = await waitForBatchEnd(f.producer, held, 60_000);
    assert.deepEqual([done.state, done.completed], ['completed', KEYS.length]);
    const finished = await f.producer.app.inject({ method: 'POST', url: `/v1/batches/${held}/pause` });
    assert.deepEqual([finished.statusCode, finished.json().error], [409, 'conflict'], 'a finished batch was paused');
  } finally {
    await f.close();
  }
});

test('pause, resume and retry want the submit scope and the caller\'s own batch; the fleet switch wants admin', async () => {
  const f = await startTestFleet(world.services, world.stores, world.prefixes, { AUTH: 'on' });
  try {
    const owner = await apiKey(f.producer, ['submit', 'read'], 'owner');
    const other = await apiKey(f.producer, ['submit', 'read'], 'other');
    const reader = await apiKey(f.producer, ['read'], 'reader');
    const admin = await apiKey(f.producer, ['admin'], 'admin');
    const batchId = await f.submit({ task: 'inspect', source: { keys: KEYS, bucket: 'photos' } }, owner.auth);
    const post = (url: string, headers: Record<string, string>) => f.producer.app.inject({ method: 'POST', url, headers });

    for (const action of ['pause', 'resume', 'retry']) {
      const url = `/v1/batches/${batchId}/${action}`;
      assert.equal((await post(url, other.auth)).statusCode, 404, `${action}: another tenant's batch`);
      assert.equal((await post(url, reader.auth)).statusCode, 403, `${action}: a read-only key`);
    }
    assert.equal((await post(`/v1/batches/${batchId}/pause`, owner.auth)).statusCode, 200);
    assert.equal((await post(`/v1/batches/${batchId}/resume`, admin.auth)).statusCode, 200, 'admin acts on every batch');

    assert.equal((await post('/v1/fleet/pause', owner.auth)).statusCode, 403);
    assert.equal((await f.producer.app.inject({ url: '/v1/fleet', headers: reader.auth })).json().paused, false);
    assert.equal((await post('/v1/fleet/pause', admin.auth)).statusCode, 200);
    assert.equal((await f.producer.app.inject({ url: '/v1/fleet', headers: reader.auth })).json().paused, true);
    assert.equal((await post('/v1/fleet/resume', admin.auth)).statusCode, 200);
    assert.deepEqual((await f.producer.deps.jobs.imageQueues()).map((queue) => queue.paused), [false, false]);
  } finally {
    await f.close();
  }
});

test('imagefleet pause, resume, retry and fleet pause|resume against a real producer: one line each, errors included', async () => {
  const f = await startTestFleet(world.services, world.stores, world.prefixes, { AUTH: 'on' });
  try {
    const submitter = await apiKey(f.producer, ['submit', 'read'], 'cli-submit');
    const admin = await apiKey(f.producer, ['admin'], 'cli-admin');
    const batchId = await f.submit({ task: 'inspect', source: { keys: KEYS, bucket: 'photos' } }, submitter.auth);
    await waitFor(async () => (await f.producer.deps.batches.state(batchId)) === 'running', 20_000, 'the batch to be listed');
    const address = await f.producer.app.listen({ host: '127.0.0.1', port: 0 });
    const cli = fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url));
    const run = async (token: string, ...args: string[]) => (await promisify(execFile)(process.execPath, [cli, ...args, '--api', address, '--api-key', token], { encoding: 'utf8' })).stdout;
    const fails = (code: number, pattern: RegExp) => (error: { code?: number; stderr?: string }) => error.code === code && pattern.test(error.stderr ?? '') && error.stderr!.trim().split('\n').length === 1;

    assert.equal(await run(submitter.token, 'pause', batchId), `${batchId} paused (${KEYS.length} waiting jobs held back; running ones finish)\n`);
    await assert.rejects(run(submitter.token, 'pause', batchId), fails(1, /answered 409: batch \S+ is paused; only a listing or running batch can be paused/));
    assert.equal(await run(submitter.token, 'resume', batchId), `${batchId} resumed: running (${KEYS.length} jobs enqueued again)\n`);
    await assert.rejects(run(submitter.token, 'retry', batchId), fails(1, /answered 409: batch \S+ is running; only a completed_with_errors batch can be retried/));
    await assert.rejects(run(submitter.token, 'pause', 'no_such_batch'), fails(1, /answered 404/));
    await assert.rejects(run(submitter.token, 'fleet', 'pause'), fails(1, /answered 403: this API key lacks the "admin" scope/));
    await assert.rejects(run(admin.token, 'fleet', 'stop'), fails(2, /fleet takes pause or resume/));
    assert.match(await run(admin.token, 'fleet', 'pause'), /^fleet paused/);
    assert.match(await run(admin.token, 'fleet', 'resume'), /^fleet resumed/);
  } finally {
    await f.close();
  }
});


test('a fleet-wide pause covers every model queue, also one first used while the fleet is paused', async () => {
  const f = await startTestFleet(world.services, world.stores, world.prefixes);
  try {
    const fleetQueues = async () => (await f.producer.app.inject({ url: '/v1/fleet' })).json<{ queues: { queue: string; paused: boolean }[] }>().queues;
    const listedBatch = async (model: string) => {
      const batchId = await f.submit({ task: 'caption', model, source: { keys: KEYS.slice(0, 2), bucket: 'photos' } });
      await waitFor(async () => (await batchStatus(f.producer, batchId)).state === 'running', 30_000, `batch ${batchId} listed`);
    };
    await listedBatch('fp-before');
    assert.equal((await f.producer.app.inject({ method: 'POST', url: '/v1/fleet/pause' })).json().paused, true);
    assert.deepEqual((await fleetQueues()).find((queue) => queue.queue === 'vlm-fp-before'), { queue: 'vlm-fp-before', paused: true });

    await listedBatch('fp-during');
    assert.deepEqual((await fleetQueues()).find((queue) => queue.queue === 'vlm-fp-during'), { queue: 'vlm-fp-during', paused: true }, 'a model queue first used during the pause took work');

    const resumed = await f.producer.app.inject({ method: 'POST', url: '/v1/fleet/resume' });
    assert.equal(resumed.json().paused, false);
    assert.deepEqual((await fleetQueues()).filter((queue) => queue.paused), []);
  } finally {
    await f.close();
  }
});
