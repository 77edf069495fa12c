import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchStatus, waitForBatchEnd } from '../helpers/producer.js';
import { usePhotoWorld } from '../helpers/photo-world.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { waitFor } from '../helpers/processes.js';
import { multipart } from '../helpers/http.js';
import { syntheticPhoto } from '../helpers/images.js';
import { ensureBucket } from '../helpers/services.js';

/**
 * Fair share in a fleet: producer, one worker process taking one job at a time, the `inspect`
 * task. Order is read from the jobs BullMQ completed (finishedOn), never from timings.
 */
const BIG = Array.from({ length: 40 }, (_, i) => `fair/big/${String(i).padStart(3, '0')}.jpg`);
const SMALL = Array.from({ length: 5 }, (_, i) => `fair/small/${i}.jpg`);
const world = usePhotoWorld([...BIG, ...SMALL], 900);

type Fleet = Awaited<ReturnType<typeof startTestFleet>>;

/** Batch ids of the finished image jobs, in the order the worker finished them. */
async function servedOrder(f: Fleet): Promise<string[]> {
  const done = await f.producer.deps.queues.images.getCompleted(0, -1);
  return done.sort((a, b) => a.finishedOn! - b.finishedOn! || a.processedOn! - b.processedOn!).map((job) => job.data.batchId);
}

async function fairFleet(): Promise<Fleet> {
  await ensureBucket(world.services, 'uploads');
  const f = await startTestFleet(world.services, world.stores, world.prefixes, { WORKER_CONCURRENCY: '1' });
  f.startWorker();
  return f;
}

/** Posts the big batch and waits until the worker is into it. */
async function runningBigBatch(f: Fleet): Promise<string> {
  const big = await f.submit({ task: 'inspect', source: { keys: BIG, bucket: 'photos' }, batchId: 'fair_big' });
  await waitFor(async () => (await batchStatus(f.producer, big)).completed >= 3, 60_000, 'the big batch to be running');
  return big;
}

test('a small batch posted while a big one runs is served in turn with it and finishes first', async () => {
  const f = await fairFleet();
  try {
    const big = await runningBigBatch(f);
    const small = await f.submit({ task: 'inspect', source: { keys: SMALL, bucket: 'photos' }, batchId: 'fair_small' });
    assert.equal((await waitForBatchEnd(f.producer, small, 60_000)).state, 'completed');
    const bigAtSmallEnd = await batchStatus(f.producer, big);
    assert.ok(bigAtSmallEnd.completed < BIG.length, `the big batch finished first (${bigAtSmallEnd.completed} of ${BIG.length})`);

    const order = await servedOrder(f);
    const first = order.indexOf(small);
    const last = order.lastIndexOf(small);
    // Alternating: between its first and last job, one of the big batch's per round.
    const bigBetween = order.slice(first, last + 1).filter((id) => id === big).length;
    assert.equal(order.filter((id) => id === small).length, SMALL.length);
    assert.ok(bigBetween <= SMALL.length, `${bigBetween} big jobs ran between the small batch's first and last (${order.join(' ')})`);
    assert.ok(bigBetween >= SMALL.length - 2, `the big batch did not get its turns (${order.join(' ')})`);
    await waitForBatchEnd(f.producer, big, 120_000);
  } finally {
    await f.close();
  }
});

test('an upload posted while a batch runs is done before that batch\'s remaining jobs', async () => {
  const f = await fairFleet();
  try {
    const big = await runningBigBatch(f);
    const upload = await f.producer.app.inject({ method: 'POST', url: '/v1/images', ...multipart([{ name: 'task', content: 'inspect' }, { name: 'file', filename: 'now.jpg', content: await syntheticPhoto(7, 96, 64) }]) });
    assert.equal(upload.statusCode, 202, upload.body);
    const bigAtPost = (await batchStatus(f.producer, big)).completed;
    const { batchId } = upload.json() as { batchId: string };
    assert.equal((await waitForBatchEnd(f.producer, batchId, 60_000)).state, 'completed');

    const order = await servedOrder(f);
    const bigBefore = order.slice(0, order.indexOf(batchId)).filter((id) => id === big).length;
    // At most the job in the worker's hands and the one ahead of it in the current round.
    assert.ok(bigBefore <= bigAtPost + 2, `the upload waited for ${bigBefore - bigAtPost} big jobs (${order.join(' ')})`);
    assert.ok(bigBefore < BIG.length - 10, 'the batch was nearly done before the upload ran');
  } finally {
    await f.close();
  }
});

test('a batch\'s priority: 1 to 10, shown in its status and the listing, and not part of its id', async () => {
  const f = await startTestFleet(world.services, world.stores, world.prefixes, { LISTING_AHEAD: '1' });
  try {
    const body = { task: 'inspect', source: { keys: SMALL, bucket: 'photos' } };
    const weighted = await f.submit({ ...body, priority: 3 });
    assert.equal((await batchStatus(f.producer, weighted)).priority, 3);
    const listed = (await f.producer.app.inject({ url: '/v1/batches' })).json() as { batches: { id: string; priority: number }[] };
    assert.deepEqual(listed.batches.map((batch) => [batch.id, batch.priority]), [[weighted, 3]]);
    // The same request with another priority is the same batch (the same work); it keeps its priority.
    const again = await f.producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { ...body, priority: 7 } });
    assert.deepEqual(again.json(), { batchId: weighted, created: false });
    assert.equal((await batchStatus(f.producer, weighted)).priority, 3);
    const plain = await f.submit({ ...body, batchId: 'fair_plain' });
    assert.equal((await batchStatus(f.producer, plain)).priority, 1);
    for (const priority of [0, 11, 2.5, '2', null]) {
      const answer = await f.producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { ...body, priority } });
      assert.equal(answer.statusCode, 400, `priority ${JSON.stringify(priority)}: ${answer.body}`);
      assert.equal(answer.json().error, 'bad_request');
      assert.match(answer.json().message, /priority/);
    }
  } finally {
    await f.close();
  }
});
