// npm run bench (engine part): tagging with the bench-size generated model, 1 and 4 slots, one run:
// - llama-server alone: a client sending N concurrent requests to its HTTP API (the peer:
//   "llama-server plus a loop script"), same request body as the fleet sends;
// - each engine alone: prepared images straight into the engine driver, N in flight;
// - the whole fleet on each engine: s3rver -> producer -> Redis -> one worker process -> s3rver.
// Every row starts a fresh server (llama-server's prompt cache would favour a reused one). With
// random weights an answer's length depends on the seed, so the fleet row runs first and every
// other row sends each image with the seed the fleet's job used: the same work in every row.
// BENCH_REPEAT rounds (default 3) of every row; the table gives medians and each run. A fleet row
// also prints where the machine's CPU went (engine, worker, producer, s3rver, Redis): on a CPU-only
// box every core-second the fleet spends outside llama-server is one the engine does not get.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@imagefleet/core';
import { ChatClient, cpuThreadArgs, EngineHost, LlamaServerEngine, makeTinyModel, type AnalyzeInput, type VisionEngine } from '@imagefleet/engine';
import { prepareJpeg } from '@imagefleet/imaging';
import { StoreRegistry } from '@imagefleet/storage';
import { taggingTask } from '@imagefleet/tasks';
import { deleteRedisPrefix, ensureBucket, startServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer, waitForBatchEnd } from '../helpers/producer.js';
import { spawnWorker } from '../helpers/worker-process.js';
import { freePort, processCpuSeconds, stopProcess, waitFor } from '../helpers/processes.js';
import { metricsAt, samplesOf } from '../helpers/fleet-metrics.js';
import { syntheticPhoto } from '../helpers/images.js';
import { llamaServerBinary } from '../helpers/llama-server.js';

const IMAGES = Number(process.env.BENCH_IMAGES ?? 48);
// llama.node is ~10x slower: its rows take the first BENCH_LLAMA_IMAGES images (listed under bench-llama/).
const LLAMA_IMAGES = Math.min(IMAGES, Number(process.env.BENCH_LLAMA_IMAGES ?? 8));
const SLOT_COUNTS = (process.env.BENCH_SLOTS ?? '1,4').split(',').map(Number);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const THREADS = Number(process.env.BENCH_THREADS ?? Math.min(availableParallelism(), 16));
// What the worker plans for this model (tasks' text tokens + 16 image tokens, in 256s); the same for every row.
const CONTEXT_PER_SLOT = 1280;
const dir = mkdtempSync(join(tmpdir(), 'imagefleet-bench-'));
const model = await makeTinyModel(join(dir, 'bench'), { seed: 1, size: 'bench' });
const binary = await llamaServerBinary();
const originals = await Promise.all(Array.from({ length: IMAGES }, (_, i) => syntheticPhoto(i, 800, 600)));
const prepared = await Promise.all(originals.map(async (bytes) => (await prepareJpeg(bytes, { maxPixels: 1e8 }, taggingTask.budget)).jpeg));
const imageKey = (index: number, folder = 'bench/') => `${folder}${String(index).padStart(3, '0')}.jpg`;
/** Per image key, the seed the fleet's job used (set by the fleet row of the same slot count). */
let fleetSeeds = new Map<string, number>();
const inputFor = (index: number, attempt: number): AnalyzeInput => ({
  imageJpeg: prepared[index]!,
  prompt: taggingTask.prompt({}),
  schema: taggingTask.schema({}),
  maxTokens: taggingTask.maxOutputTokens({}),
  seed: (fleetSeeds.get(imageKey(index)) ?? index + 1) + attempt - 1,
  deadlineMs: 600_000,
});
/** The fleet's policy, which a careful loop script shares: an answer cut off at its limit is asked once more with the next seed. */
async function withRetry(ask: (attempt: number) => Promise<{ tokens: number; truncated: boolean }>): Promise<number> {
  const first = await ask(1);
  return first.truncated ? first.tokens + (await ask(2)).tokens : first.tokens;
}
const silent = createLogger('bench', 'silent');
console.log(`inputs: ${IMAGES} images 800x600 (${LLAMA_IMAGES} for llama.node's rows), task tagging (max ${taggingTask.maxOutputTokens({})} tokens), bench-size model (52 MB + 3.3 MB), CPU, ${THREADS} threads, ${CONTEXT_PER_SLOT} tokens per slot`);

interface Row {
  name: string;
  slots: number;
  rate: number;
  tokensPerSecond?: number;
  failed?: number;
}

/** N workers pulling from one list of inputs: the shape of a loop script with N threads. */
async function drain(slots: number, images: number, analyze: (index: number) => Promise<number>): Promise<{ rate: number; tokensPerSecond: number }> {
  let next = 0;
  let tokens = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: slots }, async () => {
      while (next < images) {
        const generated = await analyze(next++);
        tokens += generated;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { rate: images / seconds, tokensPerSecond: tokens / seconds };
}

const PEER = 'llama-server alone (HTTP client)';
const PEER_WITH_FLEET_FLAGS = `${PEER}, ${cpuThreadArgs(0).join(' ')} as the fleet runs it`;

/** The peer as a user runs it (llama-server's defaults), or with the thread flags the fleet adds on the CPU. */
async function llamaServerAlone(slots: number, fleetFlags: boolean): Promise<Row> {
  const port = await freePort();
  const flags = fleetFlags ? cpuThreadArgs(0) : [];
  const server = spawn(binary, ['-m', model.model, '--mmproj', model.mmproj, '-np', String(slots), '-c', String(slots * CONTEXT_PER_SLOT), '-t', String(THREADS), '--port', String(port), '--no-webui', '--no-kv-unified', ...flags], { stdio: 'ignore' });
  const client = new ChatClient({ baseUrl: `http://127.0.0.1:${port}/v1` });
  await waitFor(() => client.healthy(1000), 120_000, 'llama-server to load');
  const result = await drain(slots, IMAGES, (index) =>
    withRetry(async (attempt) => {
      // A plain client: POST the same body the fleet sends, read usage.completion_tokens.
      const response = await fetch(`${client.baseUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: client.requestBody(inputFor(index, attempt)) });
      if (!response.ok) throw new Error(`llama-server answered ${response.status}: ${await response.text()}`);
      const body = (await response.json()) as { usage?: { completion_tokens?: number }; choices?: { finish_reason?: string }[] };
      return { tokens: body.usage?.completion_tokens ?? 0, truncated: body.choices?.[0]?.finish_reason === 'length' };
    }),
  );
  await stopProcess(server);
  return { name: fleetFlags ? PEER_WITH_FLEET_FLAGS : PEER, slots, ...result };
}

async function engineAlone(kind: 'server' | 'llama', slots: number): Promise<Row> {
  const common = { ...model, slots, contextPerSlot: CONTEXT_PER_SLOT, gpuLayers: 0, threads: THREADS, loadTimeoutMs: 120_000, restartBackoffMs: 500, logger: silent };
  const engine: VisionEngine & { start(): Promise<unknown> } = kind === 'server' ? new LlamaServerEngine({ ...common, binary }) : new EngineHost({ ...common, libVariant: 'default' });
  await engine.start();
  const result = await drain(slots, kind === 'llama' ? LLAMA_IMAGES : IMAGES, (index) =>
    withRetry(async (attempt) => {
      const answer = await engine.analyze(inputFor(index, attempt));
      return { tokens: answer.completionTokens, truncated: answer.truncated };
    }),
  );
  await engine.close();
  return { name: `ENGINE=${kind} driver alone`, slots, ...result };
}

const services = await startServices();
await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
const stores = new StoreRegistry(services.s3);
await Promise.all(originals.map((bytes, i) => stores.open('s3://photos').put(imageKey(i), bytes)));
await Promise.all(originals.slice(0, LLAMA_IMAGES).map((bytes, i) => stores.open('s3://photos').put(imageKey(i, 'bench-llama/'), bytes)));

interface TaggingResultLine {
  key: string;
  status: string;
  result?: { seed?: number; attempts?: number };
  error?: { code?: string; seeds?: number[] };
}

/** The first seed each job used: a result's seed belongs to its last attempt; a failure lists the seeds it tried. */
function firstSeeds(lines: TaggingResultLine[]): Map<string, number> {
  const seeds = new Map<string, number>();
  for (const line of lines) {
    if (line.result?.seed !== undefined) seeds.set(line.key, line.result.seed - ((line.result.attempts ?? 1) - 1));
    else if (line.error?.seeds?.[0] !== undefined) seeds.set(line.key, line.error.seeds[0]);
  }
  return seeds;
}

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
  // The engine's process: the worker's child (llama-server or the llama.node host), or for ENGINE=openai the server started here.
  const enginePid = server?.pid ?? childPids(worker.child.pid!)[0];
  const machineBefore = machineBusySeconds();
  const redisBefore = commandCpuSeconds('redis-server');
  const s3rverBefore = commandCpuSeconds('s3rver');
  const engineCpuBefore = enginePid ? processCpuSeconds(enginePid) : 0;
  const workerCpuBefore = processCpuSeconds(worker.child.pid!);
  const benchCpuBefore = process.cpuUsage();
  const startedAt = Date.now();
  const response = await producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'tagging', source: { s3: { bucket: 'photos', prefix: kind === 'llama' ? 'bench-llama/' : 'bench/' } } } });
  const batchId = response.json().batchId as string;
  // Polled once a second so that the harness adds little load; the time comes from the batch's own finishedAt.
  const status = await waitForBatchEnd(producer, batchId, 1_800_000, 1000);
  const endedAt = Date.parse(status.finishedAt!);
  const seconds = (endedAt - startedAt) / 1000;
  const workerCpu = processCpuSeconds(worker.child.pid!) - workerCpuBefore;
  const engineCpu = enginePid ? processCpuSeconds(enginePid) - engineCpuBefore : 0;
  const machineCpu = machineBusySeconds() - machineBefore;
  const redisCpu = commandCpuSeconds('redis-server') - redisBefore;
  const s3rverCpu = commandCpuSeconds('s3rver') - s3rverBefore;
  const benchCpu = process.cpuUsage(benchCpuBefore);
  // Every generation the engine ran, retries of cut-off answers included (result lines count only the accepted one).
  const health = worker.lines.find((line) => line.msg === 'worker started')?.health as string;
  const tokens = samplesOf(await metricsAt(health)(), 'imagefleet_engine_tokens_total').find((sample) => sample.labels.direction === 'completion')?.value ?? 0;
  const lines = (await producer.app.inject({ method: 'GET', url: `/v1/batches/${batchId}/results` })).body.trim().split('\n').map((line) => JSON.parse(line) as TaggingResultLine);
  if (kind === 'server') fleetSeeds = firstSeeds(lines);
  const lastJobAt = Math.max(...worker.lines.filter((line) => line.msg === 'job completed' || line.msg === 'job failed').map((line) => line.time as number));
  const failures = lines.filter((line) => line.status === 'failed').map((line) => line.error?.code);
  console.log(
    `fleet ENGINE=${kind}, ${slots} slots: last job -> batch finished ${endedAt - lastJobAt} ms; CPU s outside the engine: worker ${workerCpu.toFixed(2)}, ` +
      `producer ${((benchCpu.user + benchCpu.system) / 1e6).toFixed(2)}, s3rver ${s3rverCpu.toFixed(2)}, Redis ${redisCpu.toFixed(2)}, the rest of the machine ${(machineCpu - engineCpu - workerCpu - redisCpu - s3rverCpu - (benchCpu.user + benchCpu.system) / 1e6).toFixed(2)}; engine ${engineCpu.toFixed(2)} of ${(availableParallelism() * seconds).toFixed(1)} core-seconds; failed ${JSON.stringify(failures)} (a failed input counts as processed: the peer rows ask it as often)`,
  );
  await stopProcess(worker.child);
  if (server) await stopProcess(server);
  await producer.close();
  await deleteRedisPrefix(services.redisUrl, env.QUEUE_PREFIX!);
  return { name: `whole fleet, ENGINE=${kind}`, slots, rate: (status.completed + status.failed) / seconds, tokensPerSecond: tokens / seconds, failed: status.failed };
}

/** Busy CPU seconds of the whole machine, all cores (Linux /proc/stat: user, nice, system, irq, softirq). */
function machineBusySeconds(): number {
  const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq!) / 100;
}

/** CPU seconds of every process whose command line matches (pgrep -f). */
function commandCpuSeconds(pattern: string): number {
  const pids = spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
  return pids.reduce((sum, pid) => sum + (existsSync(`/proc/${pid}/stat`) ? processCpuSeconds(pid) : 0), 0);
}

function childPids(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
}


// BENCH_ROWS=peer,server,llama,fleet-server,fleet-openai,fleet-llama picks rows (default: all).
const ROWS = new Set((process.env.BENCH_ROWS ?? 'peer,server,llama,fleet-server,fleet-openai,fleet-llama').split(','));
const rows: Row[] = [];
const measure = async (row: Promise<Row>) => {
  const done = await row;
  rows.push(done);
  console.log(`measured: ${JSON.stringify(done)}`);
};
// Background work on a shared 2-core VM moves single runs by 5-10 %: BENCH_REPEAT rounds, each row
// once per round in the same order, and the table gives each row's median.
for (let round = 1; round <= REPEAT; round++) {
  for (const slots of SLOT_COUNTS) {
    if (ROWS.has('fleet-server')) await measure(fleet('server', slots));
    await measure(llamaServerAlone(slots, false));
    await measure(llamaServerAlone(slots, true));
    if (ROWS.has('server')) await measure(engineAlone('server', slots));
    if (ROWS.has('llama') && round === 1) await measure(engineAlone('llama', slots));
    if (ROWS.has('fleet-openai')) await measure(fleet('openai', slots));
    if (ROWS.has('fleet-llama') && round === 1) await measure(fleet('llama', slots));
  }
}
const medianOf = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
const table = [...new Map(rows.map((row) => [`${row.name}|${row.slots}`, row])).values()].map((first) => {
  const runs = rows.filter((row) => row.name === first.name && row.slots === first.slots);
  return { ...first, rate: medianOf(runs.map((row) => row.rate)), tokensPerSecond: medianOf(runs.map((row) => row.tokensPerSecond ?? 0)), spread: runs.map((row) => row.rate.toFixed(3)).join(' ') };
});
console.log(`\n| row | slots | images/s (median) | images/s of each run | completion tokens/s | x llama-server alone (images/s) | x llama-server alone with the fleet's flags |\n| --- | --- | --- | --- | --- | --- | --- |`);
for (const row of table) {
  const ratio = (peerName: string) => (row.rate / table.find((candidate) => candidate.slots === row.slots && candidate.name === peerName)!.rate).toFixed(2);
  const failed = row.failed ? ` (${row.failed} failed)` : '';
  console.log(`| ${row.name}${failed} | ${row.slots} | ${row.rate.toFixed(3)} | ${row.spread} | ${row.tokensPerSecond.toFixed(0)} | ${ratio(PEER)} | ${ratio(PEER_WITH_FLEET_FLAGS)} |`);
}
stores.close();
await services.stop();
rmSync(dir, { recursive: true, force: true });
