// Measures what llama-server really uses for a model pair at N slots (RSS from /proc, and the
// buffers llama.cpp says it allocated) and what the planner predicts for the same run.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { planEngine, type DeviceMemory, type EnginePlan, type ModelPair } from '@imagefleet/engine';
import { getTask, taskNames, type ModelTask } from '@imagefleet/tasks';
import { imageTokensFor } from '@imagefleet/worker';
import { syntheticPhoto } from './images.js';
import { freePort } from './processes.js';

const MiB = 1024 ** 2;

/** The buffers llama.cpp logs at load (-lv 4), in bytes. */
export interface ReportedBuffers {
  /** Text model weights (CPU_Mapped / CPU / CUDA0 model buffers; a CPU_REPACK buffer holds repacked copies of mapped tensors and is not added). */
  weights: number;
  kv: number;
  /** The text context's compute buffers (sched_reserve) and output buffer. */
  compute: number;
  /** Vision projector weights ("model size"). */
  projector: number;
  /** The projector's compute buffer (reserve_compute_meta, sized for its warmup image). */
  projectorCompute: number;
}

export interface ServerMemory {
  slots: number;
  contextPerSlot: number;
  /** VmRSS once /health answers 200. */
  afterLoadBytes: number;
  /** VmHWM after every slot has run a request that fills its context. */
  peakBytes: number;
  reported: ReportedBuffers;
  promptTokens: number[];
  loadSeconds: number;
  requestSeconds: number;
}

export interface Prediction {
  plan: EnginePlan;
  /** weights + projector + projector compute + context (KV and compute) + images, no margin. */
  totalBytes: number;
}

/** What the planner says the server needs at `slots` x `contextPerSlot` on a CPU (RAM) for images of `imageSide`², without the safety margin. */
export async function predictMemory(pair: ModelPair, slots: number, contextPerSlot: number, imageSide = largestImageSide()): Promise<Prediction> {
  const device: DeviceMemory = { kind: 'cpu', index: undefined, name: 'cpu', totalBytes: 2 ** 50, freeBytes: 2 ** 50, source: 'simulated' };
  const plan = await planEngine(pair.model, pair.projector, device, { contextPerSlot, maxSlots: slots, requestedSlots: slots, marginBytes: 0, maxImagePixels: imageSide ** 2 });
  return { plan, totalBytes: plan.weightBytes + plan.projectorBytes + plan.projectorComputeBytes + plan.contextBytes + plan.imageBytes };
}

/** Sums llama.cpp's "... buffer size = X MiB" and clip's "model size: X MiB" lines. */
export function parseReportedBuffers(log: string): ReportedBuffers {
  const sum = (pattern: RegExp) => [...log.matchAll(pattern)].reduce((total, match) => total + Number(match[1]) * MiB, 0);
  return {
    weights: sum(/load_tensors:\s+(?!CPU_REPACK)\S+ model buffer size =\s+([\d.]+) MiB/g),
    kv: sum(/llama_kv_cache:\s+\S+ KV buffer size =\s+([\d.]+) MiB/g),
    compute: sum(/(?:sched_reserve|llama_context):\s+\S+ +(?:compute|output) buffer size =\s+([\d.]+) MiB/g),
    projector: sum(/load_hparams: model size:\s+([\d.]+) MiB/g),
    projectorCompute: sum(/reserve_compute_meta:\s+\S+ compute buffer size =\s+([\d.]+) MiB/g),
  };
}

export const reportedTotal = (reported: ReportedBuffers) => reported.weights + reported.kv + reported.compute + reported.projector + reported.projectorCompute;

/** llama-server with its output kept (llama.cpp's buffer sizes are read from it) and its exit noted. */
function spawnServer(binary: string, args: string[]) {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const state = { log: '', exited: undefined as string | undefined };
  const keep = (chunk: Buffer) => {
    state.log += chunk.toString();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('exit', (code, signal) => (state.exited = signal ?? `exit ${code}`));
  return { child, state };
}

/** POST JSON without client timeouts (a full-context request on a busy CPU takes minutes). */
function post<T>(url: string, body: unknown): Promise<{ status: number; json: T }> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) as T });
        } catch (error) {
          reject(error as Error);
        }
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kB = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kB('VmRSS'), hwm: kB('VmHWM') };
}

function modelTasks(): ModelTask[] {
  return taskNames()
    .map((name) => getTask(name))
    .filter((task): task is ModelTask => task?.kind === 'model');
}

/** The largest image side any model task sends: the worker sizes each slot's context for it. */
export const largestImageSide = () => Math.max(...modelTasks().map((task) => task.budget.maxSide));

export interface MeasureOptions {
  binary: string;
  pair: ModelPair;
  slots: number;
  contextPerSlot: number;
  threads: number;
  /** Side of the square test images (default: the largest task budget, 1280). */
  imageSide?: number;
  /** Answer tokens per request: the KV cache is zeroed at load, so generating more adds no memory, only minutes. */
  maxTokens?: number;
  onLine?(line: string): void;
}

/**
 * Starts llama-server as the worker would (-np slots, -c slots x contextPerSlot, -ngl 0, one
 * context per slot) and reads its RSS once /health answers; then sends one request per slot at
 * once, each a square image of the largest task budget plus the longest task prompt padded with
 * text until the prompt fills the slot's context (less the answer), and reads the peak (VmHWM).
 */
export async function measureServerMemory(options: MeasureOptions): Promise<ServerMemory> {
  const { binary, pair, slots, contextPerSlot, threads } = options;
  const side = options.imageSide ?? largestImageSide();
  const maxTokens = options.maxTokens ?? 8;
  const port = await freePort();
  const args = [
    '--model', pair.model.path, '--mmproj', pair.projector.path, '--parallel', String(slots), '--ctx-size', String(slots * contextPerSlot),
    '--n-gpu-layers', '0', '--threads', String(threads), '--host', '127.0.0.1', '--port', String(port), '--no-webui', '--no-kv-unified',
    '--verbosity', '4',
  ];
  const started = performance.now();
  const { child, state } = spawnServer(binary, args);
  const root = `http://127.0.0.1:${port}`;
  try {
    for (;;) {
      if (state.exited) throw new Error(`llama-server exited while loading (${state.exited}): ${state.log.slice(-2000)}`);
      const ok = await fetch(`${root}/health`).then((response) => response.ok, () => false);
      if (ok) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const loadSeconds = (performance.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const afterLoad = memoryOf(child.pid!);
    options.onLine?.(`  loaded in ${loadSeconds.toFixed(1)} s, RSS ${(afterLoad.rss / MiB).toFixed(0)} MiB`);

    // The prompt: the longest task prompt, then filler words up to the slot's context.
    const prompt = modelTasks()
      .map((task) => task.prompt({}))
      .sort((a, b) => b.length - a.length)[0]!;
    const count = async (text: string) => (await post<{ tokens: number[] }>(`${root}/tokenize`, { content: text })).json.tokens.length;
    const imageTokens = imageTokensFor(pair, side) + 2;
    const budget = contextPerSlot - maxTokens - imageTokens - (await count(prompt)) - 32;
    const words = 'the quick brown fox jumps over a lazy dog while seven red boxes wait beside old blue doors';
    let filler = '';
    if (budget > 0) {
      const perRepeat = await count(`${words} `.repeat(8)) / 8;
      filler = `${words} `.repeat(Math.max(0, Math.floor(budget / perRepeat)));
    }
    const images = await Promise.all(Array.from({ length: slots }, (_, i) => syntheticPhoto(100 + i, side, side)));
    const requestStarted = performance.now();
    const answers = await Promise.all(
      images.map(async (image, i) => {
        const { status, json } = await post<{ usage?: { prompt_tokens?: number }; error?: unknown }>(`${root}/v1/chat/completions`, {
          messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/jpeg;base64,${image.toString('base64')}` } }, { type: 'text', text: `${prompt}\n${filler}` }] }],
          max_tokens: maxTokens,
          seed: i + 1,
        });
        if (status !== 200) throw new Error(`request ${i} answered ${status}: ${JSON.stringify(json).slice(0, 300)}`);
        return json.usage?.prompt_tokens ?? 0;
      }),
    );
    const requestSeconds = (performance.now() - requestStarted) / 1000;
    const peak = memoryOf(child.pid!);
    return { slots, contextPerSlot, afterLoadBytes: afterLoad.rss, peakBytes: peak.hwm, reported: parseReportedBuffers(state.log), promptTokens: answers, loadSeconds, requestSeconds };
  } finally {
    if (!state.exited) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    }
  }
}

/**
 * The buffers llama.cpp allocates for a pair at `slots` x `contextPerSlot`, read from its log
 * without running anything: no prefetch of the weights (--numa turns it off) and, unless
 * `warmup`, no warmup, so header-only (sparse) files of any size work. The projector's compute
 * buffer is reserved by its warmup only: ask for `warmup` (then the text model must hold real
 * data) to see it; `textOnly` leaves the projector out. Seconds per call.
 */
export async function reportedAllocations(options: {
  binary: string; model: string; mmproj: string; slots: number; contextPerSlot: number; textOnly?: boolean; warmup?: boolean;
}): Promise<ReportedBuffers> {
  const port = await freePort();
  const args = [
    '--model', options.model, ...(options.textOnly ? [] : ['--mmproj', options.mmproj]), '--parallel', String(options.slots),
    '--ctx-size', String(options.slots * options.contextPerSlot), '--n-gpu-layers', '0', '--threads', '1', '--host', '127.0.0.1',
    '--port', String(port), '--no-webui', '--no-kv-unified', '--verbosity', '4', '--numa', 'distribute', ...(options.warmup ? [] : ['--no-warmup']),
  ];
  const { child, state } = spawnServer(options.binary, args);
  try {
    while (!/llama_server: model loaded|server is listening|listening on/.test(state.log)) {
      if (state.exited) throw new Error(`llama-server exited while loading (${state.exited}): ${state.log.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return parseReportedBuffers(state.log);
  } finally {
    if (!state.exited) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    }
  }
}
