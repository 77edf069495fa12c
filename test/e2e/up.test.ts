import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ensureBucket, startServices, deleteRedisPrefix, type TestServices } from '../helpers/services.js';
import { testEnv } from '../helpers/fleet.js';
import { freePort, spawnLogged, waitFor } from '../helpers/processes.js';

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
