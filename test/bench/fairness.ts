// npm run bench — fair share: a 20-image batch alone, then the same work (another batch id) posted
// while a 5,000-image batch runs; both times and their ratio (target: within 2x). Then the Redis
// cost of tagging: the fair-share step (getPrioritized + fairRounds-2.lua) against addBulk, per page.
// Fleet: s3rver -> producer (in process) -> Redis -> one `imagefleet worker` process, task `inspect`
// (no model: the bench measures scheduling, and a CPU-only model would make it hours long).
// Smaller runs: FAIR_BIG (default 5000), FAIR_SMALL (20), BENCH_CONCURRENCY (4), FAIR_PAGES (20).
import type { ImageJobData } from '@imagefleet/core';
import { BatchRegistry, FairShare, createQueues, createRedis, registerScripts } from '@imagefleet/jobs';
import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { batchStatus, startTestProducer, waitForBatchEnd, type TestProducer } from '../helpers/producer.js';
import { spawnWorker } from '../helpers/worker-process.js';
import { stopProcess, waitFor } from '../helpers/processes.js';
import { syntheticPhoto } from '../helpers/images.js';

const BIG = Number(process.env.FAIR_BIG ?? 5000);
const SMALL = Number(process.env.FAIR_SMALL ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const PAGES = Number(process.env.FAIR_PAGES ?? 20);
const DISTINCT = 50;

const services = await startServices();
const env = testEnv(services, { WORKER_CONCURRENCY: String(CONCURRENCY) });
const config = testConfig(env);
const stores = new StoreRegistry(services.s3);
await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
const images = await Promise.all(Array.from({ length: DISTINCT }, (_, i) => syntheticPhoto(i, 640, 480)));
const photos = stores.open('s3://photos/fair');
const keyOf = (group: string, i: number) => `${group}/${String(i).padStart(6, '0')}.jpg`;
for (let i = 0; i < BIG; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, BIG - i) }, (_, j) => photos.put(keyOf('big', i + j), images[(i + j) % DISTINCT]!)));
}
await Promise.all(Array.from({ length: SMALL }, (_, i) => photos.put(keyOf('small', i), images[i % DISTINCT]!)));
const smallKeys = Array.from({ length: SMALL }, (_, i) => `fair/${keyOf('small', i)}`);

const worker = spawnWorker(env);
await waitFor(() => worker.lines.some((line) => line.msg === 'worker started'), 20_000, 'worker start');
const producer = await startTestProducer(config);

async function post(producer: TestProducer, payload: Record<string, unknown>): Promise<string> {
  const response = await producer.app.inject({ method: 'POST', url: '/v1/batches', payload });
  if (response.statusCode !== 202) throw new Error(`POST /v1/batches: ${response.statusCode} ${response.body}`);
  return (response.json() as { batchId: string }).batchId;
}

/** Seconds from posting the small batch until it has finished (manifest written). */
async function smallBatchSeconds(batchId: string): Promise<number> {
  const started = performance.now();
  const id = await post(producer, { task: 'inspect', source: { keys: smallKeys, bucket: 'photos' }, batchId });
  const status = await waitForBatchEnd(producer, id, 30 * 60_000);
  if (status.state !== 'completed') throw new Error(`${batchId} ended ${status.state}`);
  return (performance.now() - started) / 1000;
}

console.log(`fairness: ${SMALL}-image batch alone, then during a ${BIG}-image batch; task inspect, 1 worker x ${CONCURRENCY} jobs`);
await smallBatchSeconds('fair_warmup');
const alone = await smallBatchSeconds('fair_small_alone');
const big = await post(producer, { task: 'inspect', source: { s3: { bucket: 'photos', prefix: 'fair/big/' } }, batchId: 'fair_big' });
await waitFor(async () => (await batchStatus(producer, big)).completed >= Math.min(100, BIG / 10), 30 * 60_000, 'the big batch to run');
const bigBefore = (await batchStatus(producer, big)).completed;
const during = await smallBatchSeconds('fair_small_during');
const bigAfter = await batchStatus(producer, big);
const cancel = await producer.app.inject({ method: 'DELETE', url: `/v1/batches/${big}` });
const ratio = during / alone;
console.log(`${SMALL} images alone:                ${alone.toFixed(2)} s`);
console.log(`${SMALL} images during the big batch: ${during.toFixed(2)} s (the big batch finished ${bigAfter.completed - bigBefore} images meanwhile, ${bigAfter.completed} done of ${bigAfter.total} listed)`);
console.log(`ratio: ${ratio.toFixed(2)}x — target within 2x ${ratio <= 2 ? 'met' : 'MISSED'}; big batch cancelled (${cancel.statusCode}, ${(cancel.json() as { removed: number }).removed} waiting jobs removed)`);

await stopProcess(worker.child);
await producer.close();

// The Redis cost of tagging a page, on a queue that already holds jobs of other batches.
const redis = createRedis(services.redisUrl, 'bench-fairness');
const prefix = `${env.QUEUE_PREFIX}_cost`;
const queues = createQueues(redis, prefix, { attempts: 1, backoffMs: 100 });
const fairShare = new FairShare(redis, prefix, registerScripts(redis), { interactiveShare: config.interactiveShare });
const registry = new BatchRegistry(redis, prefix, 3600);
for (let b = 0; b < 4; b++) await registry.create({ id: `cost${b}`, task: 'inspect', source: { keys: ['k.jpg'], bucket: 'photos' }, sourceStore: 's3://photos', resultsUrl: 's3://results' });
let tagging = 0;
let adding = 0;
for (let page = 0; page < PAGES; page++) {
  const batchId = `cost${page % 4}`;
  const data: ImageJobData = { batchId, task: 'inspect', source: { store: 's3://photos', key: 'k.jpg' }, results: 's3://results' };
  let started = performance.now();
  const priorities = await fairShare.priorities(queues.images, { batchId }, 1000);
  tagging += performance.now() - started;
  started = performance.now();
  await queues.images.addBulk(priorities.map((priority, i) => ({ name: 'inspect', data, opts: { jobId: `${batchId}-p${page}-${i}`, priority } })));
  adding += performance.now() - started;
}
console.log(`Redis cost per 1,000-job page (${PAGES} pages, 4 batches): fair-share step ${(tagging / PAGES).toFixed(1)} ms, addBulk ${(adding / PAGES).toFixed(1)} ms (${((tagging / adding) * 100).toFixed(1)}% on top)`);
await queues.close();
redis.disconnect();

stores.close();
await deleteRedisPrefix(services.redisUrl, env.QUEUE_PREFIX!);
await deleteRedisPrefix(services.redisUrl, prefix);
await services.stop();
