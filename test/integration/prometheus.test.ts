import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@imagefleet/core';
import { startProducer, type RunningProducer } from '@imagefleet/producer';
import { startWorker, type RunningWorker } from '@imagefleet/worker';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { freePort, spawnLogged, stopProcess, waitFor } from '../helpers/processes.js';

const available = spawnSync('prometheus', ['--version']).status === 0;
let services: TestServices;
let dir: string;

before(async () => {
  if (!available) return;
  services = await startServices();
  await Promise.all(['results', 'uploads'].map((bucket) => ensureBucket(services, bucket)));
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-prom-'));
});
after(async () => {
  await services?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a real Prometheus scrapes the producer and a worker and answers queries about them', { skip: available ? false : 'prometheus is not installed (Debian package prometheus; .ci/run installs it)' }, async () => {
  const [apiPort, metricsPort, workerPort, promPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  // As deploy/ provisions it: API keys on, the producer's /metrics on its internal port without a key.
  const env = testEnv(services, { PORT: String(apiPort), PRODUCER_METRICS_PORT: String(metricsPort), WORKER_PORT: String(workerPort), QUEUE_SAMPLE_MS: '500', AUTH: 'on' });
  const config = testConfig(env);
  const logger = createLogger('test', 'silent');
  let producer: RunningProducer | undefined;
  let worker: RunningWorker | undefined;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: imagefleet-producer\n    static_configs: [{ targets: ['127.0.0.1:${metricsPort}'] }]\n  - job_name: imagefleet-worker\n    static_configs: [{ targets: ['127.0.0.1:${workerPort}'] }]\n`,
  );
  const prometheus = spawnLogged('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`]);
  try {
    producer = await startProducer(config, logger);
    worker = await startWorker(config, logger);
    assert.equal((await fetch(`http://127.0.0.1:${apiPort}/metrics`)).status, 404, 'the API port serves no /metrics when PRODUCER_METRICS_PORT is set');
    assert.equal((await fetch(`http://127.0.0.1:${apiPort}/v1/batches/bnope`)).status, 401, 'the API itself wants a key');
    const query = async (promql: string) => {
      const response = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(promql)}`).catch(() => undefined);
      if (!response?.ok) return [];
      return ((await response.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
    };
    await waitFor(async () => (await query('up == 1')).length === 2, 30_000, `both targets up (${prometheus.output().slice(-500)})`);
    await waitFor(async () => (await query('imagefleet_queue_jobs{queue="images",state="wait"}')).length === 1, 20_000, 'a sampled queue gauge');
    const depth = await query('sum(imagefleet_queue_jobs{state="wait"})');
    assert.equal(depth[0]!.value[1], '0');
    const up = await query('up');
    assert.deepEqual(up.map((series) => series.metric.job).sort(), ['imagefleet-producer', 'imagefleet-worker']);
    const resident = await query('process_resident_memory_bytes{job="imagefleet-worker"}');
    assert.ok(Number(resident[0]!.value[1]) > 10 * 1024 * 1024);
  } finally {
    await worker?.stop();
    await producer?.stop();
    await stopProcess(prometheus);
    await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
  }
});
