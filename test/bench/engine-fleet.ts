// npm run bench (second part) — tagging throughput with the bench-size generated model:
// the engine host alone (prepared images straight into EngineHost.analyze, N in flight) vs. the
// whole fleet (s3rver -> producer -> Redis -> one worker process with N slots -> s3rver).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@imagefleet/core';
import { EngineHost, makeTinyModel } from '@imagefleet/engine';
import { encodeJpeg, prepareImage } from '@imagefleet/imaging';
import { StoreRegistry } from '@imagefleet/storage';
import { taggingTask } from '@imagefleet/tasks';
import { deleteRedisPrefix, ensureBucket, startServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer, waitForBatchEnd } from '../helpers/producer.js';
import { spawnWorker } from '../helpers/worker-process.js';
import { stopProcess, waitFor } from '../helpers/processes.js';
import { syntheticPhoto } from '../helpers/images.js';

const IMAGES = Number(process.env.BENCH_IMAGES ?? 32);
const SLOT_COUNTS = [1, 4];
const dir = mkdtempSync(join(tmpdir(), 'imagefleet-bench-'));
const model = await makeTinyModel(join(dir, 'bench'), { seed: 1, size: 'bench' });
const originals = await Promise.all(Array.from({ length: IMAGES }, (_, i) => syntheticPhoto(i, 800, 600)));
const prepared = await Promise.all(originals.map(async (bytes) => encodeJpeg(await prepareImage(bytes, { maxPixels: 1e8 }, taggingTask.budget))));
console.log(`inputs: ${IMAGES} images 800x600, task tagging (max ${taggingTask.maxOutputTokens({})} tokens), bench-size model (52 MB + 3.3 MB), CPU, 2 threads`);

async function engineAlone(slots: number): Promise<{ rate: number; tokens: number }> {
  const host = new EngineHost({ ...model, slots, contextPerSlot: 1024, gpuLayers: 0, threads: 2, libVariant: 'default', loadTimeoutMs: 120_000, restartBackoffMs: 500, logger: createLogger('bench', 'silent') });
  await host.start();
  let next = 0;
  let tokens = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: slots }, async () => {
      while (next < IMAGES) {
        const index = next++;
        const result = await host.analyze({ imageJpeg: prepared[index]!, prompt: taggingTask.prompt({}), schema: taggingTask.schema({}), maxTokens: taggingTask.maxOutputTokens({}), seed: index + 1, deadlineMs: 600_000 });
        tokens += result.completionTokens;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await host.close();
  return { rate: IMAGES / seconds, tokens: tokens / seconds };
}

const services = await startServices();
await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
const stores = new StoreRegistry(services.s3);
await Promise.all(originals.map((bytes, i) => stores.open('s3://photos').put(`bench/${String(i).padStart(3, '0')}.jpg`, bytes)));

async function fleet(slots: number): Promise<{ rate: number; failed: number }> {
  const env = testEnv(services, { ENGINE: 'llama', MODEL_PATH: model.model, MMPROJ_PATH: model.mmproj, ENGINE_SLOTS: String(slots), ENGINE_THREADS: '2', WORKER_CONCURRENCY: String(slots * 2) });
  const producer = await startTestProducer(testConfig(env));
  const worker = spawnWorker(env);
  await waitFor(() => worker.lines.some((line) => line.msg === 'worker started'), 120_000, 'worker start');
  const started = performance.now();
  const response = await producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'tagging', source: { s3: { bucket: 'photos', prefix: 'bench/' } } } });
  const status = await waitForBatchEnd(producer, response.json().batchId, 1_800_000);
  const seconds = (performance.now() - started) / 1000;
  await stopProcess(worker.child);
  await producer.close();
  await deleteRedisPrefix(services.redisUrl, env.QUEUE_PREFIX!);
  return { rate: status.completed / seconds, failed: status.failed };
}

for (const slots of SLOT_COUNTS) {
  const alone = await engineAlone(slots);
  const whole = await fleet(slots);
  console.log(
    `N=${slots}: engine host alone ${alone.rate.toFixed(2)} img/s (${alone.tokens.toFixed(0)} tokens/s) | whole fleet ${whole.rate.toFixed(2)} img/s (${whole.failed} failed) | fleet/engine ${(whole.rate / alone.rate).toFixed(2)}`,
  );
}
stores.close();
await services.stop();
rmSync(dir, { recursive: true, force: true });
