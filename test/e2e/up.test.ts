import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ensureBucket, startServices, deleteRedisPrefix, type TestServices } from '../helpers/services.js';
import { testEnv } from '../helpers/fleet.js';
import { freePort, spawnLogged, waitFor } from '../helpers/processes.js';
import { llamaServerBinary, llamaServerChild, testEngineCacheDir } from '../helpers/llama-server.js';
import { syntheticPhoto } from '../helpers/images.js';
import { makeTinyModel } from '@imagefleet/engine';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let services: TestServices;
before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads'].map((bucket) => ensureBucket(services, bucket)));
});
after(async () => services?.stop());

test('imagefleet up: API and worker in one process, one /metrics with both, graceful SIGTERM', async () => {
  const port = await freePort();
  const env = testEnv(services, { PORT: String(port), LOG_LEVEL: 'info', QUEUE_SAMPLE_MS: '500' });
  const cli = fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url));
  const child = spawnLogged(process.execPath, [cli, 'up'], { ...process.env, ...env });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 30_000, `up to be ready: ${child.output().slice(-300)}`);
    await waitFor(async () => /imagefleet_queue_jobs\{/.test(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()), 10_000, 'a queue sample');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /# TYPE imagefleet_jobs_total counter/, 'the worker metrics are on the API port');
    assert.match(metrics, /# TYPE imagefleet_job_stage_seconds histogram/);
    assert.match(metrics, /# TYPE imagefleet_engine_slots gauge/);
    assert.match(metrics, /imagefleet_queue_jobs\{[^}]*queue="images"/, 'and the producer metrics');
    assert.equal((metrics.match(/^# TYPE process_resident_memory_bytes /gm) ?? []).length, 1, 'one registry, not two');
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(child.output(), /"msg":"worker stopped"/);
  } finally {
    child.kill('SIGKILL');
    await deleteRedisPrefix(services.redisUrl, env.QUEUE_PREFIX!);
  }
});

test('after `engine build`, imagefleet up analyses with ENGINE=server by default (ENGINE=auto)', async () => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'imagefleet-up-'));
  const tiny = await makeTinyModel(join(dir, 'tiny'), { seed: 2 });
  await llamaServerBinary();
  writeFileSync(join(dir, 'photo.jpg'), await syntheticPhoto(3, 320, 240));
  const env = testEnv(services, { PORT: String(port), ENGINE_CACHE_DIR: testEngineCacheDir(), MODEL_PATH: tiny.model, MMPROJ_PATH: tiny.mmproj, ENGINE_THREADS: '1', LOCAL_SOURCE_ROOTS: dir });
  delete env.ENGINE;
  const cli = fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url));
  const child = spawnLogged(process.execPath, [cli, 'up'], { ...process.env, ...env });
  try {
    const api = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${api}/readyz`).catch(() => undefined))?.status === 200, 60_000, `up to be ready: ${child.output().slice(-300)}`);
    assert.match(await (await fetch(`${api}/metrics`)).text(), /imagefleet_engine_info\{engine="server"[^}]*\} 1/);
    assert.ok(llamaServerChild(child.pid!), 'llama-server runs as the engine child process');
    const created = await fetch(`${api}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: 'tagging', source: { local: { path: dir } } }) });
    assert.equal(created.status, 202);
    const { batchId } = (await created.json()) as { batchId: string };
    await waitFor(async () => ((await (await fetch(`${api}/v1/batches/${batchId}`)).json()) as { state: string }).state === 'completed', 60_000, 'the tagging batch');
    const [line] = (await (await fetch(`${api}/v1/batches/${batchId}/results`)).text()).trim().split('\n').map((text) => JSON.parse(text) as { status: string; result: { tokens: { completion: number } } });
    assert.equal(line?.status, 'ok');
    assert.ok(line.result.tokens.completion > 0);
  } finally {
    child.kill('SIGKILL');
    await deleteRedisPrefix(services.redisUrl, env.QUEUE_PREFIX!);
    rmSync(dir, { recursive: true, force: true });
  }
});
