import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { createLogger, ImagefleetError, type Config } from '@imagefleet/core';
import { createS3Client, S3BlobStore } from '@imagefleet/storage';
import { startWorker, type RunningWorker } from '@imagefleet/worker';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { batchStatus, startTestProducer, waitForBatchEnd, type TestProducer } from '../helpers/producer.js';
import { usePhotoWorld } from '../helpers/photo-world.js';
import { waitFor } from '../helpers/processes.js';
import { readManifest } from '../helpers/manifest.js';
import { startTcpForwarder, type TcpForwarder } from '../helpers/tcp-forwarder.js';

/** Storage outages: every S3 request has a timeout; a short outage delays inputs, a long one ends them with a code. */
const keys = ['outage/a.jpg', 'outage/b.jpg', 'outage/c.jpg', 'outage/d.jpg'];
const world = usePhotoWorld(keys, 500);

test('an S3 request to a server that never answers fails with storage_error within its timeout', async () => {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  const client = createS3Client({ ...world.services.s3, endpoint: `http://127.0.0.1:${port}`, requestTimeoutMs: 300 });
  const store = new S3BlobStore(client, 'photos');
  const started = Date.now();
  try {
    // A deadline of our own, so that a request without a timeout fails the test instead of hanging it.
    const outcome = await Promise.race([
      store.get('outage/a.jpg', { maxBytes: 1e6 }).then(
        () => 'answered',
        (error: unknown) => error,
      ),
      new Promise((resolve) => setTimeout(() => resolve('no timeout'), 15_000).unref()),
    ]);
    assert.ok(outcome instanceof ImagefleetError, `got ${String(outcome)}`);
    assert.equal(outcome.code, 'storage_error');
    // 3 tries of 300 ms each plus the SDK's backoff.
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  } finally {
    client.destroy();
    for (const socket of sockets) socket.destroy();
    silent.close();
  }
});

/** Producer on the real S3; the worker reaches S3 (sources and results) through a forwarder that can go down. */
async function outageFleet(extra: Record<string, string>) {
  const endpoint = new URL(world.services.s3.endpoint);
  const forwarder: TcpForwarder = await startTcpForwarder({ host: endpoint.hostname, port: Number(endpoint.port) });
  world.cleanups.push(() => forwarder.close());
  const env = testEnv(world.services, { JOB_ATTEMPTS: '2', S3_REQUEST_TIMEOUT_MS: '1000', RECONCILE_INTERVAL_MS: '100', FINALIZE_RETRY_MS: '0', ...extra });
  const config: Config = testConfig(env);
  world.prefixes.push(config.queuePrefix);
  const producer: TestProducer = await startTestProducer(config);
  world.cleanups.push(() => producer.close());
  const workerConfig = testConfig({ ...env, S3_ENDPOINT: forwarder.url });
  return {
    config,
    producer,
    forwarder,
    async startWorker(): Promise<RunningWorker> {
      const worker = await startWorker(workerConfig, createLogger('test-worker', 'silent'), { serveHealth: false });
      world.cleanups.push(() => worker.stop());
      return worker;
    },
    async submit(): Promise<string> {
      const response = await producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'inspect', source: { keys, bucket: 'photos' } } });
      assert.equal(response.statusCode, 202, response.body);
      await producer.lister.idle();
      return response.json().batchId as string;
    },
  };
}

test('a storage outage shorter than STORAGE_OUTAGE_WINDOW_MS delays inputs instead of using up their attempts', async () => {
  const f = await outageFleet({ STORAGE_OUTAGE_WINDOW_MS: '120000' });
  const batchId = await f.submit();
  await f.forwarder.down();
  await f.startWorker();
  // With 2 attempts and 100 ms backoff, attempts would be spent in well under a second.
  await waitFor(async () => (await batchStatus(f.producer, batchId)).waitingFor === 'storage', 20_000, 'the batch to wait for storage');
  const waiting = await batchStatus(f.producer, batchId);
  assert.deepEqual([waiting.completed, waiting.failed], [0, 0]);
  assert.match(waiting.detail ?? '', /storage/);
  await f.forwarder.forward();
  const status = await waitForBatchEnd(f.producer, batchId, 90_000);
  assert.deepEqual([status.state, status.completed, status.failed], ['completed', keys.length, 0]);
});

test('a storage outage longer than the window ends inputs with storage_unavailable, recorded while storage is down', async () => {
  const f = await outageFleet({ STORAGE_OUTAGE_WINDOW_MS: '1500' });
  const batchId = await f.submit();
  await f.forwarder.down();
  await f.startWorker();
  await waitFor(async () => (await batchStatus(f.producer, batchId)).failed === keys.length, 60_000, 'every input to fail while storage is down');
  const recorded = await batchStatus(f.producer, batchId);
  assert.deepEqual([recorded.state, recorded.waitingFor], ['running', 'finalizing']);
  await f.forwarder.forward();
  const status = await waitForBatchEnd(f.producer, batchId, 60_000);
  assert.deepEqual([status.state, status.completed, status.failed], ['completed_with_errors', 0, keys.length]);
  const manifest = await readManifest(world.stores, f.config.resultsUrl, batchId);
  assert.deepEqual(manifest.map((line) => line.error?.code), keys.map(() => 'storage_unavailable'));
});
