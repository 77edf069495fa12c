import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ResultLine } from '@imagefleet/core';
import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { waitForBatchEnd, batchStatus } from '../helpers/producer.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { pngDeclaring, syntheticPhoto, truncated } from '../helpers/images.js';
import { waitFor } from '../helpers/processes.js';
import { producerMetrics, waitForIdleFleet, workerFinished, workerOutcomes, workerStageCount } from '../helpers/fleet-metrics.js';
import type { WorkerProcess } from '../helpers/worker-process.js';

const GOOD = 200;
const BAD: Record<string, string> = {
  'bad/empty.jpg': 'empty',
  'bad/text-named.jpg': 'not_an_image',
  'bad/truncated.jpg': 'corrupt_image',
  'bad/huge-30000x30000.png': 'too_many_pixels',
};

let services: TestServices;
let stores: StoreRegistry;
const goodKeys = Array.from({ length: GOOD }, (_, i) => `good/${String(i).padStart(3, '0')}.jpg`);
const allKeys = [...goodKeys, ...Object.keys(BAD)].sort();
const prefixes: string[] = [];

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
  stores = new StoreRegistry(services.s3);
  const photos = stores.open('s3://photos/e2e');
  for (let i = 0; i < GOOD; i += 20) {
    await Promise.all(goodKeys.slice(i, i + 20).map(async (key, j) => photos.put(key, await syntheticPhoto(i + j, 1024, 768))));
  }
  await photos.put('bad/empty.jpg', Buffer.alloc(0));
  await photos.put('bad/text-named.jpg', 'this is a text file wearing a .jpg name');
  await photos.put('bad/truncated.jpg', truncated(await syntheticPhoto(999, 1024, 768)));
  await photos.put('bad/huge-30000x30000.png', await pngDeclaring(30000, 30000));
  await photos.put('bad/notes.txt', 'skipped by extension');
});

after(async () => {
  stores?.close();
  if (services) {
    for (const prefix of prefixes) await deleteRedisPrefix(services.redisUrl, prefix);
    await services.stop();
  }
});

/**
 * A fleet for one scenario; submit() defaults to inspect over the whole photos bucket. The producer
 * samples queue depths every 250 ms, so tests can wait for an idle fleet (waitForIdleFleet).
 */
async function fleet(extra: Record<string, string> = {}) {
  const f = await startTestFleet(services, stores, prefixes, { WORKER_CONCURRENCY: '3', QUEUE_SAMPLE_MS: '250', ...extra });
  return {
    ...f,
    startWorkers(count: number) {
      for (let i = 0; i < count; i++) f.startWorker();
    },
    submit: (body: Record<string, unknown> = {}) => f.submit({ task: 'inspect', source: { s3: { bucket: 'photos', prefix: '' } }, ...body }),
  };
}

/** Inputs the live workers finished, by outcome (ok or error code), summed over workers. */
async function fleetOutcomes(workers: WorkerProcess[]): Promise<Record<string, number>> {
  const total: Record<string, number> = {};
  for (const worker of workers) for (const [outcome, count] of await workerOutcomes(worker)) total[outcome] = (total[outcome] ?? 0) + count;
  return total;
}

/** What the workers must have counted for the photos batch: each input exactly once. */
const EXPECTED_OUTCOMES = { ok: GOOD, empty: 1, not_an_image: 1, corrupt_image: 1, too_many_pixels: 1 };

/** Every input appears exactly once, good ones ok, bad ones failed with their code. */
function assertCompleteManifest(lines: ResultLine[]): void {
  const keys = lines.map((line) => line.key.replace(/^e2e\//, ''));
  assert.equal(new Set(keys).size, keys.length, 'a key appears twice in the manifest');
  assert.deepEqual([...keys].sort(), allKeys);
  for (const line of lines) {
    const key = line.key.replace(/^e2e\//, '');
    if (key in BAD) {
      assert.equal(line.status, 'failed', key);
      assert.equal(line.error?.code, BAD[key], `${key}: ${JSON.stringify(line.error)}`);
      assert.ok((line.error?.message.length ?? 0) > 10);
    } else {
      assert.equal(line.status, 'ok', `${key}: ${JSON.stringify(line.error)}`);
      const result = line.result as { width: number; height: number; dhash: string };
      assert.deepEqual([result.width, result.height], [1024, 768]);
      assert.match(result.dhash, /^[0-9a-f]{16}$/);
    }
  }
}

describe('end to end on real Redis, S3 and worker processes', () => {
  test('(a) 200 images and 4 bad files through two workers: full manifest, right codes, webhook fired once', async () => {
    const received: unknown[] = [];
    const hook: Server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        received.push(JSON.parse(body));
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    // The receiver is on loopback, which webhooks may reach only when allowed.
    const f = await fleet({ WEBHOOK_ALLOW_PRIVATE: 'true' });
    try {
      f.startWorkers(2);
      const webhook = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/done`;
      const batchId = await f.submit({ source: { s3: { bucket: 'photos', prefix: 'e2e/' } }, webhook });
      const status = await waitForBatchEnd(f.producer, batchId, 120_000);
      assert.deepEqual(
        [status.state, status.total, status.completed, status.failed, status.skipped],
        ['completed_with_errors', GOOD + 4, GOOD, 4, 1],
      );
      assertCompleteManifest(await f.manifest(batchId));
      await waitFor(() => received.length > 0, 10_000, 'webhook');
      // "Exactly one": once no job is waiting, active or delayed in any queue (finalize queues the
      // delivery before it completes), no further delivery can come.
      await waitForIdleFleet(producerMetrics(f.producer), { jobs: GOOD + 4 });
      assert.equal(received.length, 1, `webhook deliveries: ${JSON.stringify(received)}`);
      // Both workers took part, and between them recorded one outcome per input, with its code.
      for (const worker of f.workers) assert.ok((await workerFinished(worker)) > 0, 'a worker did nothing');
      assert.deepEqual(await fleetOutcomes(f.workers), EXPECTED_OUTCOMES);
      // Every job log line carries job id and batch id (a property of the logs themselves).
      for (const line of f.workers.flatMap((worker) => worker.lines).filter((l) => l.msg.startsWith('job '))) {
        assert.ok(line.jobId && line.batchId === batchId, JSON.stringify(line));
      }
      const payload = received[0] as { event: string; batch: { id: string; failed: number }; results: string };
      assert.equal(payload.event, 'batch.finished');
      assert.equal(payload.batch.id, batchId);
      assert.equal(payload.batch.failed, 4);
      // The API path of the results, never the storage location behind it.
      assert.equal(payload.results, `/v1/batches/${batchId}/results`);
      assert.doesNotMatch(JSON.stringify(payload), /s3:\/\/|manifest\.jsonl/);
    } finally {
      await f.close();
      hook.close();
    }
  });

  test('(b) posting the same batch twice runs each image once', async () => {
    const f = await fleet();
    try {
      f.startWorkers(2);
      const [first, second] = await Promise.all([f.submit(), f.submit()]);
      assert.equal(first, second);
      const status = await waitForBatchEnd(f.producer, first, 120_000);
      const third = await f.submit();
      assert.equal(third, first);
      await f.producer.lister.idle();
      assert.equal((await batchStatus(f.producer, first)).total, GOOD + 4);
      assert.equal(status.total, GOOD + 4);
      // Idle fleet, then the queues' and the workers' own counters: one job per input (the second
      // and third posts enqueued nothing), each input fetched once (no image ran twice), and one
      // recorded outcome per input.
      const { finishedJobs } = await waitForIdleFleet(producerMetrics(f.producer), { jobs: GOOD + 4 });
      assert.equal(finishedJobs, GOOD + 4, 'more jobs than inputs');
      let fetched = 0;
      for (const worker of f.workers) fetched += await workerStageCount(worker, 'fetch');
      assert.equal(fetched, GOOD + 4, 'some image ran more than once');
      assert.deepEqual(await fleetOutcomes(f.workers), EXPECTED_OUTCOMES);
      assertCompleteManifest(await f.manifest(first));
    } finally {
      await f.close();
    }
  });

  test('(c) SIGKILL one of two workers mid-batch: every image still ends exactly once', async () => {
    const f = await fleet({ JOB_LOCK_MS: '2000', STALLED_CHECK_MS: '1000', WORKER_CONCURRENCY: '2' });
    try {
      f.startWorkers(2);
      const batchId = await f.submit();
      const victim = f.workers[0]!;
      await waitFor(async () => (await workerFinished(victim)) >= 10, 60_000, 'the first worker to finish 10 inputs');
      victim.child.kill('SIGKILL');
      const killed = await victim.exited;
      assert.equal(killed.signal, 'SIGKILL');
      const atKill = await batchStatus(f.producer, batchId);
      assert.ok(atKill.completed + atKill.failed < atKill.total || atKill.state === 'listing', `batch already done at kill: ${JSON.stringify(atKill)}`);
      const status = await waitForBatchEnd(f.producer, batchId, 120_000);
      assert.deepEqual([status.total, status.completed, status.failed], [GOOD + 4, GOOD, 4]);
      assertCompleteManifest(await f.manifest(batchId));
    } finally {
      await f.close();
    }
  });

  test('(d) SIGTERM a worker mid-batch: it exits 0 within the deadline and nothing is lost', async () => {
    const deadlineMs = 8000;
    const f = await fleet({ SHUTDOWN_TIMEOUT_MS: String(deadlineMs), WORKER_CONCURRENCY: '2' });
    try {
      f.startWorkers(2);
      const batchId = await f.submit();
      const leaving = f.workers[0]!;
      await waitFor(async () => (await workerFinished(leaving)) >= 10, 60_000, 'the first worker to finish 10 inputs');
      const signalledAt = Date.now();
      leaving.child.kill('SIGTERM');
      const exit = await leaving.exited;
      const tookMs = Date.now() - signalledAt;
      assert.equal(exit.code, 0, leaving.child.output());
      // Inspect jobs take milliseconds: a graceful stop is far inside the deadline (one at the
      // deadline also exits 0, and only its log line would tell).
      assert.ok(tookMs < deadlineMs, `took ${tookMs} ms`);
      assert.ok(leaving.lines.some((line) => line.msg === 'worker stopped'), 'no graceful stop logged');
      const status = await waitForBatchEnd(f.producer, batchId, 120_000);
      assert.deepEqual([status.total, status.completed, status.failed], [GOOD + 4, GOOD, 4]);
      assertCompleteManifest(await f.manifest(batchId));
    } finally {
      await f.close();
    }
  });
});
