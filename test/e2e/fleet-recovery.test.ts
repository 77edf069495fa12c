import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ResultLine } from '@imagefleet/core';
import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { readManifest } from '../helpers/manifest.js';
import { waitForBatchEnd } from '../helpers/producer.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { syntheticPhoto } from '../helpers/images.js';
import { stopProcess, waitFor } from '../helpers/processes.js';
import { spawnProducer, spawnWorker, type ProducerProcess } from '../helpers/worker-process.js';
import { metricsAt, producerMetrics, waitForIdleFleet, workerFinished, workerStageCount } from '../helpers/fleet-metrics.js';

/**
 * What the README promises about recovery and that nothing else tests: webhook deliveries are
 * retried (WEBHOOK_ATTEMPTS), a listing page that fails is retried from the saved cursor, and a
 * producer killed mid-listing is taken over without a re-post. S3 faults come from a small proxy
 * of this file's own in front of the real S3 server.
 */

let services: TestServices;
let stores: StoreRegistry;
const prefixes: string[] = [];

/** 1,005 keys under listing/p/: one .jpg every 100 keys, the rest .txt (skipped, never enqueued). */
const LISTED = 1005;
const listedKeys = Array.from({ length: LISTED }, (_, i) => `p/${String(i).padStart(4, '0')}.${i % 100 === 0 ? 'jpg' : 'txt'}`);
const listedImages = listedKeys.filter((key) => key.endsWith('.jpg'));
/** The last key of the first 1,000-key listing page: the cursor a resumed listing starts after. */
const FIRST_PAGE_LAST_KEY = listedKeys[999]!;
const hookKeys = ['h/0.jpg', 'h/1.jpg', 'h/2.jpg'];

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads', 'listing', 'hooks'].map((bucket) => ensureBucket(services, bucket)));
  stores = new StoreRegistry(services.s3);
  const listing = stores.open('s3://listing');
  const photo = await syntheticPhoto(7, 64, 48);
  for (let i = 0; i < listedKeys.length; i += 50) {
    await Promise.all(listedKeys.slice(i, i + 50).map((key) => listing.put(key, key.endsWith('.jpg') ? photo : 'not an image')));
  }
  const hooks = stores.open('s3://hooks');
  await Promise.all(hookKeys.map(async (key, i) => hooks.put(key, await syntheticPhoto(i, 64, 48))));
});

after(async () => {
  stores?.close();
  if (services) {
    for (const prefix of prefixes) await deleteRedisPrefix(services.redisUrl, prefix);
    await services.stop();
  }
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface LaterPageRequest {
  /** The SDK's id of one send(): its own retries share it, a new list() call gets a new one. */
  invocation: string;
  startAfter: string | null;
  continuation: boolean;
  answered: 'failed' | 'held' | 'served';
}

/**
 * A pass-through HTTP proxy in front of S3 that acts only on ListObjectsV2 requests past the first
 * page (a continuation token or a start-after key): 'fail-first' answers 503 SlowDown to every
 * attempt of the first such SDK call (so the SDK's own retries are spent and the lister's retry is
 * what recovers), 'hold' never answers them (a producer stuck mid-listing), 'pass' forwards them.
 */
async function startListingProxy(upstream: string) {
  const target = new URL(upstream);
  const state = { mode: 'pass' as 'pass' | 'fail-first' | 'hold', laterPages: [] as LaterPageRequest[], failedInvocation: undefined as string | undefined, held: [] as ServerResponse[] };
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://proxy');
    const laterPage = request.method === 'GET' && url.searchParams.get('list-type') === '2' && (url.searchParams.has('continuation-token') || url.searchParams.has('start-after'));
    if (laterPage) {
      const invocation = String(request.headers['amz-sdk-invocation-id'] ?? '');
      const seen = { invocation, startAfter: url.searchParams.get('start-after'), continuation: url.searchParams.has('continuation-token') };
      if (state.mode === 'fail-first' && (state.failedInvocation === undefined || (invocation !== '' && state.failedInvocation === invocation))) {
        state.failedInvocation = invocation;
        state.laterPages.push({ ...seen, answered: 'failed' });
        request.resume();
        response
          .writeHead(503, { 'content-type': 'application/xml' })
          .end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
        return;
      }
      if (state.mode === 'hold') {
        state.laterPages.push({ ...seen, answered: 'held' });
        state.held.push(response);
        return;
      }
      state.laterPages.push({ ...seen, answered: 'served' });
    }
    const forwarded = httpRequest({ host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers }, (upstreamResponse) => {
      response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
      upstreamResponse.pipe(response);
    });
    forwarded.on('error', () => response.destroy());
    request.pipe(forwarded);
  });
  const url = await listen(server);
  return {
    url,
    state,
    close() {
      for (const response of state.held) response.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
}

/** The manifest holds each listed image once and nothing else. */
function assertListedManifest(lines: ResultLine[]): void {
  const keys = lines.map((line) => line.key);
  assert.equal(new Set(keys).size, keys.length, 'a key appears twice in the manifest');
  assert.deepEqual([...keys].sort(), listedImages);
  for (const line of lines) assert.equal(line.status, 'ok', `${line.key}: ${JSON.stringify(line.error)}`);
}

/** A short lister lock and reconcile interval: how soon a dead producer's listing may be taken over. */
const LISTER_LOCK_MS = 3000;
const TAKEOVER_ENV = { LISTER_LOCK_MS: String(LISTER_LOCK_MS), RECONCILE_INTERVAL_MS: '500' };

describe('recovery promises of the README, on real Redis, S3 and worker processes', () => {
  test('(e) webhook deliveries are retried up to WEBHOOK_ATTEMPTS, and a webhook that never succeeds leaves the batch completed', async () => {
    // Per path, the answers in order: a delivery that hangs past WEBHOOK_TIMEOUT_MS, a dropped
    // connection, a 503, then 200; and a receiver that always answers 500.
    const plans: Record<string, string[]> = { '/retried': ['hang', 'reset', '503', '200'], '/refused': ['500'] };
    const calls: { path: string; answer: string; body: { event?: string; batch?: { id?: string; state?: string } } }[] = [];
    const receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        const path = request.url ?? '';
        const plan = plans[path] ?? ['200'];
        const answer = plan[Math.min(calls.filter((call) => call.path === path).length, plan.length - 1)]!;
        calls.push({ path, answer, body: JSON.parse(body) });
        if (answer === 'hang') return;
        if (answer === 'reset') return void request.socket.destroy();
        response.writeHead(Number(answer)).end(answer);
      });
    });
    const hookUrl = await listen(receiver);
    const f = await startTestFleet(services, stores, prefixes, { WEBHOOK_ATTEMPTS: '4', WEBHOOK_TIMEOUT_MS: '1000', QUEUE_SAMPLE_MS: '250', WEBHOOK_ALLOW_PRIVATE: 'true' });
    try {
      f.startWorker();
      const source = { keys: hookKeys, bucket: 'hooks' };
      const retried = await f.submit({ task: 'inspect', source, batchId: 'hook_retried', webhook: `${hookUrl}/retried` });
      const refused = await f.submit({ task: 'inspect', source, batchId: 'hook_refused', webhook: `${hookUrl}/refused` });
      for (const batchId of [retried, refused]) {
        const status = await waitForBatchEnd(f.producer, batchId, 60_000);
        assert.deepEqual([status.state, status.total, status.completed], ['completed', 3, 3], batchId);
      }
      // Both finalize jobs completed (each queues its delivery before it completes) and nothing is
      // pending, delayed retries included: every delivery attempt that will ever be made has been made.
      await waitForIdleFleet(producerMetrics(f.producer), { jobs: 2 * hookKeys.length });
      const answers = (path: string) => calls.filter((call) => call.path === path).map((call) => call.answer);
      assert.deepEqual(answers('/retried'), ['hang', 'reset', '503', '200']);
      assert.deepEqual(answers('/refused'), ['500', '500', '500', '500'], 'WEBHOOK_ATTEMPTS deliveries, then no more');
      for (const call of calls) {
        assert.equal(call.body.event, 'batch.finished');
        assert.equal(call.body.batch?.id, call.path === '/retried' ? retried : refused);
        assert.equal(call.body.batch?.state, 'completed');
      }
      // The webhook's failure did not touch the batch.
      assert.equal((await f.manifest(refused)).length, 3);
    } finally {
      await f.close();
      receiver.closeAllConnections();
      receiver.close();
    }
  });

  test('(f) a listing page that fails is retried from the saved cursor: every input once, none lost', async () => {
    const proxy = await startListingProxy(services.s3.endpoint);
    proxy.state.mode = 'fail-first';
    // The reconciler would also resume a failed listing (once its lock is free): kept out of the way
    // here, so that only the lister's own page retry can recover.
    const f = await startTestFleet(services, stores, prefixes, { S3_ENDPOINT: proxy.url, QUEUE_SAMPLE_MS: '250', RECONCILE_INTERVAL_MS: '3600000' });
    try {
      f.startWorker();
      const batchId = await f.submit({ task: 'inspect', source: { s3: { bucket: 'listing', prefix: 'p/' } } });
      const status = await waitForBatchEnd(f.producer, batchId, 90_000);
      assert.deepEqual(
        [status.state, status.total, status.completed, status.failed, status.skipped],
        ['completed', listedImages.length, listedImages.length, 0, LISTED - listedImages.length],
      );
      // The second page failed on every attempt of one S3 call; a new call (the lister's retry,
      // not the SDK's) listed it from the cursor saved with the first page.
      const failed = proxy.state.laterPages.filter((call) => call.answered === 'failed');
      const served = proxy.state.laterPages.filter((call) => call.answered === 'served');
      assert.ok(failed.length >= 1, `no listing request failed: ${JSON.stringify(proxy.state.laterPages)}`);
      assert.ok(
        served.some((call) => call.invocation !== proxy.state.failedInvocation && call.startAfter === FIRST_PAGE_LAST_KEY),
        `the failed page was not listed again after ${FIRST_PAGE_LAST_KEY}: ${JSON.stringify(proxy.state.laterPages)}`,
      );
      assertListedManifest(await f.manifest(batchId));
      await waitForIdleFleet(producerMetrics(f.producer), { jobs: listedImages.length });
      assert.equal(await workerStageCount(f.workers[0]!, 'fetch'), listedImages.length, 'an input was analysed twice');
      assert.equal(await workerFinished(f.workers[0]!), listedImages.length);
    } finally {
      await f.close();
      proxy.close();
    }
  });

  test('(g) a producer SIGKILLed mid-listing: the restarted producer takes the listing over, no re-post', async () => {
    const proxy = await startListingProxy(services.s3.endpoint);
    const env = testEnv(services, { S3_ENDPOINT: proxy.url, QUEUE_SAMPLE_MS: '250', ...TAKEOVER_ENV });
    prefixes.push(env.QUEUE_PREFIX!);
    const config = testConfig(env);
    const worker = spawnWorker({ ...env, S3_ENDPOINT: services.s3.endpoint });
    const producers: ProducerProcess[] = [];
    try {
      proxy.state.mode = 'hold';
      const first = await spawnProducer(env);
      producers.push(first);
      const batchId = await first.submit({ task: 'inspect', source: { s3: { bucket: 'listing', prefix: 'p/' } } });
      // The first page is recorded before the second is asked for: kill the producer while it waits for it.
      await waitFor(() => proxy.state.held.length > 0, 30_000, 'the listing to ask for its second page');
      const atKill = await first.status(batchId);
      assert.deepEqual([atKill.state, atKill.total], ['listing', listedImages.length - 1], `not stopped mid-listing: ${JSON.stringify(atKill)}`);
      first.child.kill('SIGKILL');
      assert.equal((await first.exited).signal, 'SIGKILL');
      proxy.state.mode = 'pass';

      const restarted = await spawnProducer(env);
      producers.push(restarted);
      // Taken over within a lock period (plus time to list and analyse), without a re-post.
      const deadline = Date.now() + LISTER_LOCK_MS + 45_000;
      let status = await restarted.status(batchId);
      while (!['completed', 'completed_with_errors', 'cancelled'].includes(status.state)) {
        assert.ok(Date.now() < deadline, `the listing was not taken over within ${LISTER_LOCK_MS + 45_000} ms: ${JSON.stringify(status)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
        status = await restarted.status(batchId);
      }
      assert.deepEqual(
        [status.state, status.total, status.completed, status.failed, status.skipped],
        ['completed', listedImages.length, listedImages.length, 0, LISTED - listedImages.length],
      );
      assertListedManifest(await readManifest(stores, config.resultsUrl, batchId));
      await waitForIdleFleet(metricsAt(restarted.url), { jobs: listedImages.length });
      assert.equal(await workerStageCount(worker, 'fetch'), listedImages.length, 'an input was analysed twice');
      assert.equal(await workerFinished(worker), listedImages.length);
    } finally {
      await Promise.all(producers.map((producer) => stopProcess(producer.child, 'SIGTERM', 10_000)));
      await stopProcess(worker.child, 'SIGTERM', 20_000);
      proxy.close();
    }
  });
});
