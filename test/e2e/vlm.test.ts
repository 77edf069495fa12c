import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyModel, type TinyModelFiles } from '@imagefleet/engine';
import { prepareJpeg } from '@imagefleet/imaging';
import { StoreRegistry } from '@imagefleet/storage';
import { compileSchema, invoiceTask, taggingTask, type ModelTaskResult } from '@imagefleet/tasks';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { testEnv } from '../helpers/fleet.js';
import { waitForBatchEnd } from '../helpers/producer.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { spawnLogged, waitFor } from '../helpers/processes.js';
import { syntheticPhoto } from '../helpers/images.js';
import { childPids, llamaServerBinary, llamaServerChild, processRuns } from '../helpers/llama-server.js';
import { oomLlamaServer } from '../helpers/oom-llama-server.js';
import { fileURLToPath } from 'node:url';

let services: TestServices;
let stores: StoreRegistry;
let dir: string;
let tiny: TinyModelFiles;
let bench: TinyModelFiles;
let serverBinary: string;
const prefixes: string[] = [];
const PHOTOS = 100;

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
  stores = new StoreRegistry(services.s3);
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-vlm-'));
  tiny = await makeTinyModel(join(dir, 'tiny'), { seed: 1 });
  bench = await makeTinyModel(join(dir, 'bench'), { seed: 1, size: 'bench' });
  serverBinary = await llamaServerBinary();
  const photos = stores.open('s3://photos');
  for (let i = 0; i < PHOTOS; i += 20) {
    await Promise.all(Array.from({ length: 20 }, async (_, j) => photos.put(`catalog/${String(i + j).padStart(3, '0')}.jpg`, await syntheticPhoto(500 + i + j, 400, 300))));
  }
});

after(async () => {
  stores?.close();
  if (services) {
    for (const prefix of prefixes) await deleteRedisPrefix(services.redisUrl, prefix);
    await services.stop();
  }
  rmSync(dir, { recursive: true, force: true });
});

/**
 * One engine thread: tests run two files at once on 2 cores, and llama.cpp's threads spin-wait for
 * each other, which collapses (100x slower) when they outnumber the free cores.
 */
async function fleet(model: TinyModelFiles, extra: Record<string, string> = {}) {
  const f = await startTestFleet(services, stores, prefixes, { ENGINE: 'llama', MODEL_PATH: model.model, MMPROJ_PATH: model.mmproj, ENGINE_THREADS: '1', LLAMA_SERVER_BIN: serverBinary, ...extra });
  return { ...f, start: f.startWorker, submit: (task: string, source: unknown) => f.submit({ task, source }) };
}

/** Where a worker's health server listens: from its /metrics-serving port, logged once at start. */
function healthUrl(worker: { lines: { msg: string; [field: string]: unknown }[] }): string {
  return String(worker.lines.find((line) => line.msg === 'worker started')!.health);
}

async function workerMetrics(worker: { lines: { msg: string; [field: string]: unknown }[] }): Promise<string> {
  return (await fetch(`${healthUrl(worker)}/metrics`)).text();
}

function metricValue(metrics: string, pattern: string): number {
  return Number(new RegExp(`^${pattern}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics)?.[1] ?? Number.NaN);
}

/**
 * 8 caption jobs on 4 slots through one out-of-memory event. One crash charge would fail a job for
 * good (ENGINE_MAX_CRASHES=1): every job ending ok proves the OOM charged nobody; the slots halve once.
 */
async function batchSurvivesOneOutOfMemory(fleetEnv: Record<string, string>, workerEnv: Record<string, string>, firstPhoto: number): Promise<void> {
  const f = await fleet(tiny, { ENGINE_SLOTS: '4', ENGINE_MAX_CRASHES: '1', ...fleetEnv });
  try {
    const worker = f.start(workerEnv);
    const keys = Array.from({ length: 8 }, (_, i) => `catalog/${String(firstPhoto + i).padStart(3, '0')}.jpg`);
    const status = await waitForBatchEnd(f.producer, await f.submit('caption', { keys, bucket: 'photos' }), 120_000);
    assert.deepEqual([status.total, status.completed, status.failed], [8, 8, 0]);
    const metrics = await workerMetrics(worker);
    assert.match(metrics, /imagefleet_engine_oom_backoffs_total\{[^}]*\} 1/);
    assert.match(metrics, /imagefleet_engine_slots\{kind="planned"[^}]*\} 4/);
    assert.match(metrics, /imagefleet_engine_slots\{kind="allowed"[^}]*\} 2/);
    assert.match(metrics, /imagefleet_engine_restarts_total\{[^}]*\} 1/);
  } finally {
    await f.close();
  }
}

for (const engine of ['server', 'llama'] as const) {
  describe(`ENGINE=${engine}: the vision engine end to end (real llama.cpp on the generated model)`, () => {
    test('100 images through tagging and through invoice: every result valid against its schema', async () => {
      const f = await fleet(tiny, { ENGINE: engine, ENGINE_SLOTS: '2' });
      try {
        const worker = f.start();
        for (const task of [taggingTask, invoiceTask]) {
          const batchId = await f.submit(task.name, { s3: { bucket: 'photos', prefix: 'catalog/' } });
          const status = await waitForBatchEnd(f.producer, batchId, 300_000);
          const lines = await f.manifest(batchId);
          const failures = lines.filter((line) => line.status !== 'ok').map((line) => `${line.key}: ${JSON.stringify(line.error).slice(0, 300)}`);
          assert.deepEqual(failures, [], `${task.name} failures`);
          assert.deepEqual([status.state, status.total, status.completed], ['completed', PHOTOS, PHOTOS]);
          const validate = compileSchema(task.schema({}));
          // Same prompt, same image token count: every input's prompt is the same length (a count
          // that followed the answer's length, as llama.node's parallel slots once reported, is not).
          const promptCounts = new Set(lines.map((line) => (line.result as ModelTaskResult).tokens.prompt));
          assert.equal(promptCounts.size, 1, `${task.name} prompt token counts ${[...promptCounts].join(', ')}`);
          for (const line of lines) {
            const result = line.result as ModelTaskResult;
            assert.ok(validate(result.output), `${line.key}: ${JSON.stringify(result.output)}`);
            assert.equal(result.model, 'model.gguf');
            assert.ok(result.tokens.prompt > 100 && result.tokens.completion > 0, JSON.stringify(result.tokens));
            assert.ok(result.timings.totalMs >= 0 && result.attempts >= 1 && result.attempts <= 2);
            assert.ok(Array.isArray(result.warnings));
          }
        }
        // The worker's /metrics: stage latencies, outcomes and tokens per task, and the engine's own figures.
        const metrics = await workerMetrics(worker);
        for (const task of ['tagging', 'invoice']) {
          assert.match(metrics, new RegExp(`imagefleet_jobs_total\\{[^}]*task="${task}",outcome="ok"[^}]*\\} ${PHOTOS}\\b`));
          for (const stage of ['queue_wait', 'fetch', 'prepare', 'infer', 'store', 'total']) {
            assert.match(metrics, new RegExp(`imagefleet_job_stage_seconds_count\\{[^}]*task="${task}",stage="${stage}"[^}]*\\} ${PHOTOS}\\b`), `${task} ${stage}`);
          }
          const prompt = Number(new RegExp(`imagefleet_tokens_total\\{[^}]*task="${task}",direction="prompt"[^}]*\\} (\\d+)`).exec(metrics)?.[1]);
          assert.ok(prompt > PHOTOS * 100, `${task} prompt tokens ${prompt}`);
        }
        assert.match(metrics, new RegExp(`imagefleet_engine_info\\{engine="${engine}"[^}]*\\} 1`));
        const engineTokens = Number(new RegExp(`imagefleet_engine_tokens_total\\{engine="${engine}",direction="completion"[^}]*\\} (\\d+)`).exec(metrics)?.[1]);
        assert.ok(engineTokens > PHOTOS * 2, `engine completion tokens ${engineTokens}`);
        if (engine === 'server') assert.match(metrics, /imagefleet_engine_kv_cache_usage_ratio\{engine="server"[^}]*\} [0-9.]+/);
        else assert.doesNotMatch(metrics, /imagefleet_engine_kv_cache_usage_ratio\{/);
        assert.match(metrics, /imagefleet_job_stage_seconds_bucket\{[^}]*le="600"[^}]*task="tagging",stage="infer"/);
        assert.doesNotMatch(metrics, /imagefleet_gpu_\w+\{/, 'no GPU here: no GPU series');
        // The producer's sampled queue gauges.
        await f.producer.sampler.sample();
        const producerMetrics = (await f.producer.app.inject({ url: '/metrics' })).body;
        assert.match(producerMetrics, /imagefleet_queue_jobs\{queue="vlm",state="completed"[^}]*\} \d+/);
        assert.match(producerMetrics, /imagefleet_queue_jobs\{queue="vlm",state="wait"[^}]*\} 0/);
      } finally {
        await f.close();
      }
    });

    test('a job whose engine process is killed mid-inference is retried and completes', async () => {
      const f = await fleet(bench, { ENGINE: engine, ENGINE_SLOTS: '1' });
      try {
        const worker = f.start();
        await waitFor(() => worker.lines.some((line) => line.msg === 'worker started'), 120_000, 'worker start');
        const keys = Array.from({ length: 6 }, (_, i) => `catalog/${String(50 + i).padStart(3, '0')}.jpg`);
        const batchId = await f.submit('caption', { keys, bucket: 'photos' });
        assert.equal((await fetch(`${healthUrl(worker)}/readyz`)).status, 200);
        // A job is in the engine when the busy-slot gauge says so; kill the engine process then.
        await waitFor(async () => metricValue(await workerMetrics(worker), 'imagefleet_engine_slots\\{kind="busy"[^}]*\\}') === 1, 120_000, 'a job in the engine');
        const [enginePid] = childPids(worker.child.pid!);
        process.kill(enginePid!, 'SIGKILL');
        // Not ready while the engine is down (restart backoff), ready again once it is back.
        const readiness: number[] = [];
        await waitFor(async () => {
          readiness.push((await fetch(`${healthUrl(worker)}/readyz`)).status);
          return readiness.includes(503) && readiness[readiness.length - 1] === 200;
        }, 60_000, '/readyz to go 503 and back to 200');
        const status = await waitForBatchEnd(f.producer, batchId, 300_000);
        assert.deepEqual([status.total, status.completed, status.failed], [6, 6, 0]);
        const lines = await f.manifest(batchId);
        assert.ok(lines.some((line) => (line.result as ModelTaskResult).attempts >= 1), 'results written');
        const metrics = await workerMetrics(worker);
        assert.match(metrics, /imagefleet_jobs_total\{[^}]*task="caption",outcome="ok"[^}]*\} 6/);
        assert.match(metrics, /imagefleet_engine_slots\{kind="planned"[^}]*\} 1/);
        assert.match(metrics, /imagefleet_engine_restarts_total\{[^}]*\} 1/);
        assert.match(metrics, /imagefleet_planner_device_memory_bytes\{device="cpu",state="total"[^}]*\} \d+/);
        assert.match(metrics, /imagefleet_engine_up\{[^}]*\} 1/);
        assert.notEqual(childPids(worker.child.pid!)[0], enginePid, 'a new engine process');
      } finally {
        await f.close();
      }
    });
  });
}

describe('ENGINE=server: out of memory and worker death', () => {
  test('a worker killed with SIGKILL takes its llama-server with it', async () => {
    const f = await fleet(tiny, { ENGINE: 'server', ENGINE_SLOTS: '1' });
    try {
      const worker = f.start();
      await waitFor(() => llamaServerChild(worker.child.pid!) !== undefined && worker.lines.some((line) => line.msg === 'worker started'), 120_000, 'the worker and its llama-server');
      const server = llamaServerChild(worker.child.pid!)!;
      worker.child.kill('SIGKILL');
      await waitFor(() => !processRuns(server), 10_000, 'llama-server to die with its worker');
    } finally {
      await f.close();
    }
  });

  test('llama-server aborting out of memory mid-batch halves the slots and charges none of the jobs in flight', async () => {
    const marker = join(dir, 'server-oom-once');
    writeFileSync(marker, '');
    await batchSurvivesOneOutOfMemory({ ENGINE: 'server', LLAMA_SERVER_BIN: oomLlamaServer(dir, serverBinary, marker) }, {}, 30);
    assert.equal(existsSync(marker), false, 'the out-of-memory abort happened');
  });
});

describe('ENGINE=llama: crash and memory policies (test hooks in the engine host)', () => {
  test('a poisoned input that crashes the host ends engine_crashed_repeatedly; the rest of the batch completes', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `catalog/${String(i).padStart(3, '0')}.jpg`);
    const poisonedKey = keys[5]!;
    // The host sees the prepared, re-encoded JPEG: compute the same bytes here.
    const source = await stores.open('s3://photos').get(poisonedKey, { maxBytes: 1e8 });
    const { jpeg } = await prepareJpeg(source, { maxPixels: 100_000_000 }, taggingTask.budget);
    const digest = createHash('sha256').update(jpeg).digest('hex');
    const f = await fleet(tiny, { ENGINE_SLOTS: '2', ENGINE_MAX_CRASHES: '2' });
    try {
      const worker = f.start({ IMAGEFLEET_TEST_CRASH_ON_IMAGE_SHA256: digest });
      const batchId = await f.submit('tagging', { keys, bucket: 'photos' });
      const status = await waitForBatchEnd(f.producer, batchId, 180_000);
      assert.deepEqual([status.total, status.completed, status.failed], [12, 11, 1]);
      const poisoned = (await f.manifest(batchId)).find((line) => line.key === poisonedKey)!;
      assert.equal(poisoned.status, 'failed');
      assert.equal(poisoned.error?.code, 'engine_crashed_repeatedly');
      assert.match(poisoned.error?.message ?? '', /crashed 2 times/);
      assert.ok(metricValue(await workerMetrics(worker), 'imagefleet_engine_restarts_total') >= 2);
      assert.equal(worker.child.exitCode, null, 'the worker itself must survive');
    } finally {
      await f.close();
    }
  });

  test('an out-of-memory error halves the slots, restarts the host and retries the job', async () => {
    const marker = join(dir, 'oom-once');
    writeFileSync(marker, '');
    await batchSurvivesOneOutOfMemory({}, { IMAGEFLEET_TEST_OOM_ONCE_FILE: marker }, 20);
  });

  test('a worker given a garbage model file exits non-zero with a clear message and no core dump', async () => {
    const cwd = mkdtempSync(join(dir, 'garbage-'));
    const garbage = join(cwd, 'model.gguf');
    writeFileSync(garbage, Buffer.alloc(4096, 0x5a));
    const env = testEnv(services, { ENGINE: 'llama', MODEL_PATH: garbage, MMPROJ_PATH: tiny.mmproj });
    const cli = fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url));
    const child = spawnLogged(process.execPath, [cli, 'worker'], { ...process.env, ...env }, cwd);
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    assert.notEqual(code, 0);
    assert.equal(child.signalCode, null, 'killed by a signal: the binding was reached');
    assert.match(child.output(), /imagefleet: model file is not a GGUF file \(bad magic bytes\): .*model\.gguf/);
    assert.deepEqual(readdirSync(cwd).filter((name) => name.startsWith('core')), []);
  });
});
