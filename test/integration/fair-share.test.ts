import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'bullmq';
import type { ImageJobData } from '@imagefleet/core';
import { BatchRegistry, FairShare, IMAGE_QUEUE, JobQueues, MAX_ROUND, createQueues, createRedis, registerScripts, startConsumers, type RoundsClamped, type ShareOf } from '@imagefleet/jobs';
import { deleteRedisPrefix, startServices, type TestServices } from '../helpers/services.js';
import { waitFor } from '../helpers/processes.js';

/**
 * Fair share through the real Lua script and BullMQ's prioritized set: the order of the set is the
 * order workers get jobs in (lowest priority first, FIFO within one); jobs are taken by a BullMQ
 * worker fetching them by hand (getNextJob), so the head moves as it does in a fleet.
 */
let services: TestServices;
const prefixes: string[] = [];

before(async () => {
  services = await startServices();
});
after(async () => {
  if (!services) return;
  for (const prefix of prefixes) await deleteRedisPrefix(services.redisUrl, prefix);
  await services.stop();
});

const TOKEN = 'test-token';

/** A queue of its own (own prefix, so its own epochs), the facade over it, and batches to enqueue for. */
async function scheduler(options: { interactiveShare?: number; attempts?: number } = {}) {
  const { interactiveShare = 4, attempts = 1 } = options;
  const prefix = `test_fair_${prefixes.length}_${process.pid}`;
  prefixes.push(prefix);
  const redis = createRedis(services.redisUrl, 'test-fair-share');
  // A long backoff: a failed job waits in delayed until a test promotes it.
  const queues = createQueues(redis, prefix, { attempts, backoffMs: 600_000 });
  const workerConnection = createRedis(services.redisUrl, 'test-fair-share-worker');
  const worker = new Worker<ImageJobData>(IMAGE_QUEUE, null, { connection: workerConnection, prefix, autorun: false });
  const clamps: RoundsClamped[] = [];
  const fairShare = new FairShare(redis, prefix, registerScripts(redis), { interactiveShare, onRoundsClamped: (event) => clamps.push(event) });
  const jobs = new JobQueues(queues, redis, prefix, fairShare);
  const batches = new BatchRegistry(redis, prefix, 3600);
  let next = 0;
  return {
    prefix,
    redis,
    queues,
    worker,
    fairShare,
    clamps,
    /** Creates the batch (unless it exists) and enqueues `count` of its inputs as one page. */
    async enqueue(batchId: string, count: number, share: Omit<ShareOf, 'batchId'> = {}): Promise<void> {
      await batches.create({ id: batchId, task: 'inspect', source: { keys: ['k'], bucket: 'b' }, sourceStore: 's3://b', resultsUrl: 's3://r' });
      const specs = Array.from({ length: count }, () => {
        const key = `${batchId}-${next++}.jpg`;
        return { jobId: `${batchId}-${String(next).padStart(24, '0')}`, name: 'inspect', data: { batchId, task: 'inspect', source: { store: 's3://b', key }, results: 's3://r' } satisfies ImageJobData };
      });
      await jobs.enqueueImages({ kind: 'pixels' }, { batchId, ...share }, specs);
    },
    /** The waiting jobs in the order workers get them: their batch ids and rounds. */
    async order(): Promise<{ batches: string; rounds: number[] }> {
      const waiting = await queues.images.getPrioritized(0, -1);
      return { batches: waiting.map((job) => job.data.batchId).join(' '), rounds: waiting.map((job) => Number(job.priority)) };
    },
    /** A worker takes the next `count` jobs and completes them. */
    async take(count: number): Promise<string[]> {
      const taken: string[] = [];
      for (let i = 0; i < count; i++) {
        const job = await worker.getNextJob(TOKEN, { block: false });
        assert.ok(job, 'no job to take');
        await job.moveToCompleted('ok', TOKEN, false);
        taken.push(job.data.batchId);
      }
      return taken;
    },
    async close() {
      await worker.close();
      await queues.close();
      workerConnection.disconnect();
      redis.disconnect();
    },
  };
}

test('two equal batches alternate, whichever was enqueued first', async () => {
  const s = await scheduler();
  try {
    await s.enqueue('A', 5);
    await s.enqueue('B', 3);
    const { batches, rounds } = await s.order();
    assert.equal(batches, 'A B A B A B A A');
    assert.deepEqual(rounds, [1, 1, 2, 2, 3, 3, 4, 5]);
  } finally {
    await s.close();
  }
});

test('a batch with weight 3 gets 3 jobs per round, also across pages', async () => {
  const s = await scheduler();
  try {
    await s.enqueue('A', 2, { weight: 3 });
    await s.enqueue('B', 4);
    // The second page fills A's first round (one place left), then goes on.
    await s.enqueue('A', 6, { weight: 3 });
    const { batches, rounds } = await s.order();
    // Round 1: A's first page, B, then the one place A had left; then 3 of A per round.
    assert.equal(batches, 'A A B A B A A A B A A B');
    assert.deepEqual(rounds, [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4]);
  } finally {
    await s.close();
  }
});

test('a batch that joins late starts at the head: not at round 1 ahead of everyone, not behind everything', async () => {
  const s = await scheduler();
  try {
    await s.enqueue('A', 10);
    assert.deepEqual(await s.take(4), ['A', 'A', 'A', 'A']);
    await s.enqueue('B', 3);
    const { batches, rounds } = await s.order();
    assert.equal(batches, 'A B A B A B A A A');
    assert.deepEqual(rounds.slice(0, 2), [5, 5]);
  } finally {
    await s.close();
  }
});

test('once the queue empties a new epoch starts: rounds restart at 1 and older tag state counts as nothing', async () => {
  const s = await scheduler();
  try {
    await s.enqueue('A', 6);
    await s.take(6);
    const before = Number(await s.redis.hget(`${s.prefix}:fair:images`, 'epoch'));
    await s.enqueue('B', 2);
    // A's state says round 6 of the old epoch: in the new one it starts at the head with B.
    await s.enqueue('A', 2);
    const { batches, rounds } = await s.order();
    assert.equal(batches, 'B A B A');
    assert.deepEqual(rounds, [1, 1, 2, 2]);
    const epoch = Number(await s.redis.hget(`${s.prefix}:fair:images`, 'epoch'));
    assert.equal(epoch, before + 1);
  } finally {
    await s.close();
  }
});

test('the interactive lane: uploads share one lane, INTERACTIVE_SHARE per round, and every batch keeps its turn', async () => {
  const s = await scheduler({ interactiveShare: 2 });
  try {
    await s.enqueue('A', 4);
    await s.enqueue('B', 4);
    for (let i = 1; i <= 5; i++) await s.enqueue(`u${i}`, 1, { lane: 'interactive' });
    const { batches, rounds } = await s.order();
    assert.equal(batches, 'A B u1 u2 A B u3 u4 A B u5 A B');
    assert.deepEqual(rounds, [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4]);
    // A later upload queues in the lane behind the earlier ones, still ahead of the batches' backlog.
    await s.take(4);
    await s.enqueue('u6', 1, { lane: 'interactive' });
    assert.equal((await s.order()).batches, 'A B u3 u4 A B u5 u6 A B');
  } finally {
    await s.close();
  }
});

test('a retried job keeps its older round, and a batch posted meanwhile still starts at the current round', async () => {
  const s = await scheduler({ attempts: 2 });
  try {
    await s.enqueue('R', 1);
    await s.enqueue('A', 6);
    const job = await s.worker.getNextJob(TOKEN, { block: false });
    assert.equal(job?.data.batchId, 'R');
    await job!.moveToFailed(new Error('transient'), TOKEN, false);
    assert.deepEqual(await s.take(3), ['A', 'A', 'A']);
    // Its backoff over, R is back at the head with round 1 while workers serve round 4.
    await (await s.queues.images.getJob(job!.id!))!.promote();
    await s.enqueue('B', 2);
    const { batches, rounds } = await s.order();
    assert.equal(batches, 'R A B A B A');
    assert.deepEqual(rounds, [1, 4, 4, 5, 5, 6]);
  } finally {
    await s.close();
  }
});

test('rounds past BullMQ\'s limit are clamped to it, counted and reported', async () => {
  const s = await scheduler();
  try {
    await s.queues.images.add('inspect', { batchId: 'R', task: 'inspect', source: { store: 's3://b', key: 'r.jpg' }, results: 's3://r' }, { priority: MAX_ROUND - 1 });
    await s.enqueue('C', 4);
    assert.deepEqual((await s.order()).rounds, [MAX_ROUND - 1, MAX_ROUND - 1, MAX_ROUND, MAX_ROUND, MAX_ROUND]);
    assert.deepEqual(s.clamps, [{ queue: 'images', batchId: 'C', jobs: 2 }]);
    assert.equal(await s.fairShare.clampedJobs('images'), 2);
  } finally {
    await s.close();
  }
});

test('workers see the interleaving: a small batch enqueued after a big one is served in turn with it', async () => {
  const s = await scheduler();
  const served: string[] = [];
  const connection = createRedis(services.redisUrl, 'test-fair-share-worker');
  try {
    await s.enqueue('big', 12);
    await s.enqueue('small', 4);
    const consumers = startConsumers(
      connection,
      {
        async image(job) {
          served.push(job.data.batchId);
        },
        async finalize() {},
        async imageFailed() {},
        error() {},
      },
      { prefix: s.prefix, lockDurationMs: 30_000, stalledIntervalMs: 30_000, maxStalls: 1, imageConcurrency: 1 },
    );
    try {
      await waitFor(() => served.length === 16, 30_000, `all jobs served (${served.join(' ')})`);
    } finally {
      await consumers.close(5000);
    }
    assert.equal(served.join(' '), 'big small big small big small big small big big big big big big big big');
  } finally {
    connection.disconnect();
    await s.close();
  }
});
