// npm run bench (engine part): tagging with the bench-size generated model, 1 and 4 slots, one run:
// - llama-server alone: a client sending N concurrent requests to its HTTP API (the peer:
//   "llama-server plus a loop script"), same request body as the fleet sends;
// - each engine alone: prepared images straight into the engine driver, N in flight;
// - the whole fleet on each engine: s3rver -> producer -> Redis -> one worker process -> s3rver.
// Every row starts a fresh server (llama-server's prompt cache would favour a reused one).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@imagefleet/core';
import { ChatClient, EngineHost, LlamaServerEngine, makeTinyModel, type AnalyzeInput, type VisionEngine } from '@imagefleet/engine';
import { encodeJpeg, prepareImage } from '@imagefleet/imaging';
import { StoreRegistry } from '@imagefleet/storage';
import { taggingTask } from '@imagefleet/tasks';
import { deleteRedisPrefix, ensureBucket, startServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer, waitForBatchEnd } from '../helpers/producer.js';
import { spawnWorker } from '../helpers/worker-process.js';
import { freePort, stopProcess, waitFor } from '../helpers/processes.js';
import { syntheticPhoto } from '../helpers/images.js';
import { llamaServerBinary } from '../helpers/llama-server.js';

const IMAGES = Number(process.env.BENCH_IMAGES ?? 16);
const SLOT_COUNTS = (process.env.BENCH_SLOTS ?? '1,4').split(',').map(Number);
const THREADS = Math.min(availableParallelism(), 16);
// What the worker plans for this model (tasks' text tokens + 16 image tokens, in 256s); the same for every row.
const CONTEXT_PER_SLOT = 1280;
const dir = mkdtempSync(join(tmpdir(), 'imagefleet-bench-'));
const model = await makeTinyModel(join(dir, 'bench'), { seed: 1, size: 'bench' });
const binary = await llamaServerBinary();
const originals = await Promise.all(Array.from({ length: IMAGES }, (_, i) => syntheticPhoto(i, 800, 600)));
const prepared = await Promise.all(originals.map(async (bytes) => encodeJpeg(await prepareImage(bytes, { maxPixels: 1e8 }, taggingTask.budget))));
const inputFor = (index: number): AnalyzeInput => ({
  imageJpeg: prepared[index]!,
  prompt: taggingTask.prompt({}),
  schema: taggingTask.schema({}),
  maxTokens: taggingTask.maxOutputTokens({}),
  seed: index + 1,
  deadlineMs: 600_000,
});
const silent = createLogger('bench', 'silent');
console.log(`inputs: ${IMAGES} images 800x600, task tagging (max ${taggingTask.maxOutputTokens({})} tokens), bench-size model (52 MB + 3.3 MB), CPU, ${THREADS} threads, ${CONTEXT_PER_SLOT} tokens per slot`);

interface Row {
  name: string;
  slots: number;
  rate: number;
  tokensPerSecond?: number;
  failed?: number;
}

/** N workers pulling from one list of inputs: the shape of a loop script with N threads. */
async function drain(slots: number, analyze: (index: number) => Promise<number>): Promise<{ rate: number; tokensPerSecond: number }> {
  let next = 0;
  let tokens = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: slots }, async () => {
      while (next < IMAGES) tokens += await analyze(next++);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { rate: IMAGES / seconds, tokensPerSecond: tokens / seconds };
}

async function llamaServerAlone(slots: number): Promise<Row> {
  const port = await freePort();
  const server = spawn(binary, ['-m', model.model, '--mmproj', model.mmproj, '-np', String(slots), '-c', String(slots * CONTEXT_PER_SLOT), '-t', String(THREADS), '--port', String(port), '--no-webui', '--no-kv-unified'], { stdio: 'ignore' });
  const client = new ChatClient({ baseUrl: `http://127.0.0.1:${port}/v1` });
  await waitFor(() => client.healthy(1000), 120_000, 'llama-server to load');
  const result = await drain(slots, async (index) => {
    // A plain client: POST the same body the fleet sends, read usage.completion_tokens.
    const response = await fetch(`${client.baseUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: client.requestBody(inputFor(index)) });
    const body = (await response.json()) as { usage?: { completion_tokens?: number } };
    return body.usage?.completion_tokens ?? 0;
  });
  await stopProcess(server);
  return { name: 'llama-server alone (HTTP client)', slots, ...result };
}

async function engineAlone(kind: 'server' | 'llama', slots: number): Promise<Row> {
  const common = { ...model, slots, contextPerSlot: CONTEXT_PER_SLOT, gpuLayers: 0, threads: THREADS, loadTimeoutMs: 120_000, restartBackoffMs: 500, logger: silent };
  const engine: VisionEngine & { start(): Promise<unknown> } = kind === 'server' ? new LlamaServerEngine({ ...common, binary }) : new EngineHost({ ...common, libVariant: 'default' });
  await engine.start();
  const result = await drain(slots, async (index) => (await engine.analyze(inputFor(index))).completionTokens);
  await engine.close();
  return { name: `ENGINE=${kind} driver alone`, slots, ...result };
}

const services = await startServices();
await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
const stores = new StoreRegistry(services.s3);
await Promise.all(originals.map((bytes, i) => stores.open('s3://photos').put(`bench/${String(i).padStart(3, '0')}.jpg`, bytes)));

async function fleet(kind: 'server' | 'llama' | 'openai', slots: number): Promise<Row> {
  let server: ReturnType<typeof spawn> | undefined;
  const engineEnv: Record<string, string> = { ENGINE: kind, LLAMA_SERVER_BIN: binary, MODEL_PATH: model.model, MMPROJ_PATH: model.mmproj };
  if (kind === 'openai') {
    const port = await freePort();
    server = spawn(binary, ['-m', model.model, '--mmproj', model.mmproj, '-np', String(slots), '-c', String(slots * CONTEXT_PER_SLOT), '-t', String(THREADS), '--port', String(port), '--no-webui', '--no-kv-unified'], { stdio: 'ignore' });
    engineEnv.OPENAI_BASE_URL = `http://127.0.0.1:${port}/v1`;
    await waitFor(() => new ChatClient({ baseUrl: engineEnv.OPENAI_BASE_URL! }).healthy(1000), 120_000, 'llama-server to load');
  }
  const env = testEnv(services, { ...engineEnv, ENGINE_SLOTS: String(slots), ENGINE_THREADS: String(THREADS), WORKER_CONCURRENCY: String(slots * 2) });
  const producer = await startTestProducer(testConfig(env));
  const worker = spawnWorker(env);
  await waitFor(() => worker.lines.some((line) => line.msg === 'worker started'), 120_000, 'worker start').catch((error: Error) => {
    throw new Error(`${error.message}: ${worker.child.output().slice(-1500)}`);
  });
  const started = performance.now();
  const response = await producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'tagging', source: { s3: { bucket: 'photos', prefix: 'bench/' } } } });
  const status = await waitForBatchEnd(producer, response.json().batchId, 1_800_000);
  const seconds = (performance.now() - started) / 1000;
  await stopProcess(worker.child);
  if (server) await stopProcess(server);
  await producer.close();
  await deleteRedisPrefix(services.redisUrl, env.QUEUE_PREFIX!);
  return { name: `whole fleet, ENGINE=${kind}`, slots, rate: status.completed / seconds, failed: status.failed };
}

// BENCH_ROWS=peer,server,llama,fleet-server,fleet-openai,fleet-llama picks rows (default: all).
const ROWS = new Set((process.env.BENCH_ROWS ?? 'peer,server,llama,fleet-server,fleet-openai,fleet-llama').split(','));
const rows: Row[] = [];
const measure = async (row: Promise<Row>) => {
  const done = await row;
  rows.push(done);
  console.log(`measured: ${JSON.stringify(done)}`);
};
for (const slots of SLOT_COUNTS) {
  await measure(llamaServerAlone(slots));
  if (ROWS.has('server')) await measure(engineAlone('server', slots));
  if (ROWS.has('llama')) await measure(engineAlone('llama', slots));
  if (ROWS.has('fleet-server')) await measure(fleet('server', slots));
  if (ROWS.has('fleet-openai')) await measure(fleet('openai', slots));
  if (ROWS.has('fleet-llama')) await measure(fleet('llama', slots));
}
console.log('\n| row | slots | images/s | completion tokens/s | x llama-server alone |\n| --- | --- | --- | --- | --- |');
for (const row of rows) {
  const peer = rows.find((candidate) => candidate.slots === row.slots && candidate.name.startsWith('llama-server alone'))!;
  const failed = row.failed ? ` (${row.failed} failed)` : '';
  console.log(`| ${row.name}${failed} | ${row.slots} | ${row.rate.toFixed(3)} | ${row.tokensPerSecond?.toFixed(0) ?? '-'} | ${(row.rate / peer.rate).toFixed(2)} |`);
}
stores.close();
await services.stop();
rmSync(dir, { recursive: true, force: true });
