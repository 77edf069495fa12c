// npm run bench — whole-fleet inspect throughput vs. the same work in a plain loop, and worker memory.
// Fleet: s3rver -> producer (in process) -> Redis -> one `imagefleet worker` process -> s3rver.
// Loop: the same images through prepareImage + inspect in this process, 1 and WORKER_CONCURRENCY in flight.
import { readFileSync } from 'node:fs';
import { prepareImage } from '@imagefleet/imaging';
import { inspectTask } from '@imagefleet/tasks';
import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer, waitForBatchEnd } from '../helpers/producer.js';
import { spawnWorker } from '../helpers/worker-process.js';
import { stopProcess, waitFor } from '../helpers/processes.js';
import { syntheticPhoto } from '../helpers/images.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 5000);
const DISTINCT = 100;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const WIDTH = 1280;
const HEIGHT = 960;

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

async function loop(images: Buffer[], count: number, inFlight: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) {
        const bytes = images[next++ % images.length]!;
        const prepared = await prepareImage(bytes, { maxPixels: 100_000_000 }, inspectTask.budget);
        await inspectTask.run(prepared, {});
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

const services = await startServices();
const env = testEnv(services, { WORKER_CONCURRENCY: String(CONCURRENCY) });
const config = testConfig(env);
const stores = new StoreRegistry(services.s3);
await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
const images = await Promise.all(Array.from({ length: DISTINCT }, (_, i) => syntheticPhoto(i, WIDTH, HEIGHT)));
const meanKiB = images.reduce((sum, image) => sum + image.length, 0) / images.length / 1024;
console.log(`inputs: ${JOBS} jobs over ${DISTINCT} distinct ${WIDTH}x${HEIGHT} JPEGs (mean ${meanKiB.toFixed(0)} KiB)`);

const photos = stores.open('s3://photos/bench');
for (let i = 0; i < JOBS; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, JOBS - i) }, (_, j) => photos.put(`img/${String(i + j).padStart(6, '0')}.jpg`, images[(i + j) % DISTINCT]!)));
}

await loop(images, 50, 1); // warm-up
const loopSequential = await loop(images, Math.min(JOBS, 1000), 1);
const loopParallel = await loop(images, Math.min(JOBS, 1000), CONCURRENCY);

const worker = spawnWorker(env);
await waitFor(() => worker.lines.some((line) => line.msg === 'worker started'), 20_000, 'worker start');
await new Promise((resolve) => setTimeout(resolve, 1000));
const rssBefore = rssMiB(worker.child.pid!);
const producer = await startTestProducer(config);
const started = performance.now();
const response = await producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'inspect', source: { s3: { bucket: 'photos', prefix: 'bench/' } } } });
const { batchId } = response.json() as { batchId: string };
let peak = rssBefore;
const checkpoints: string[] = [];
const sampler = setInterval(() => {
  const rss = rssMiB(worker.child.pid!);
  peak = Math.max(peak, rss);
  const done = worker.count('job completed');
  if (done >= ((checkpoints.length + 1) * JOBS) / 5) checkpoints.push(`${done}: ${rss.toFixed(0)}`);
}, 250);
const status = await waitForBatchEnd(producer, batchId, 30 * 60_000);
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
const rssAfter = rssMiB(worker.child.pid!);
const fleet = status.completed / seconds;

console.log(`loop, 1 in flight:            ${loopSequential.toFixed(1)} images/s`);
console.log(`loop, ${CONCURRENCY} in flight:            ${loopParallel.toFixed(1)} images/s`);
console.log(`fleet, 1 worker x ${CONCURRENCY} jobs:      ${fleet.toFixed(1)} images/s  (${status.completed} ok, ${status.failed} failed, ${seconds.toFixed(1)} s incl. listing + manifest)`);
console.log(`fleet / loop(${CONCURRENCY} in flight):     ${(fleet / loopParallel).toFixed(2)}`);
console.log(`fleet / loop(1 in flight):      ${(fleet / loopSequential).toFixed(2)}`);
console.log(`worker RSS: ${rssBefore.toFixed(0)} MiB idle before, ${rssAfter.toFixed(0)} MiB after ${status.completed} jobs (peak ${peak.toFixed(0)} MiB)`);
console.log(`worker RSS MiB by jobs done: ${checkpoints.join(', ')}`);

await stopProcess(worker.child);
await producer.close();
stores.close();
await deleteRedisPrefix(services.redisUrl, env.QUEUE_PREFIX!);
await services.stop();
