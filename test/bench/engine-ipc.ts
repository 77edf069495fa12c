// Cost of handing images to the engine host over IPC, seen from the worker process.
// Run: npm run build && node test/dist/bench/engine-ipc.js
// Env: BENCH_REQUESTS (64), BENCH_IN_FLIGHT (1), BENCH_SLOTS (1), BENCH_WARMUP (4).
//
// 800x600 JPEGs (synthetic shapes + film grain, ~90 KB, about what a phone photo resized for a
// model weighs) go straight into EngineHost.analyze with a one-field schema and a few tokens, so
// inference stays small next to the handoff. Reported per request: round-trip time, the worker
// (this process) CPU time from process.cpuUsage(), the host's CPU time from /proc, and the time
// the engine itself reported (prompt + generation), whose difference to the round trip is the
// handoff: serialisation, the pipe, image decoding in the host. Then, without a child, the CPU
// cost of encoding one analyze message in each IPC format the host has used: JSON with the JPEG
// as base64 (serialization 'json') and the structured clone with the bytes as they are
// ('advanced'), both ending as the bytes written to the pipe.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'node:v8';
import sharp from 'sharp';
import { createLogger } from '@imagefleet/core';
import { EngineHost, makeTinyModel } from '@imagefleet/engine';
import { syntheticPhoto } from '../helpers/images.js';
import { processCpuSeconds } from '../helpers/processes.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 64);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 1);
const SLOTS = Number(process.env.BENCH_SLOTS ?? 1);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 4);
const DISTINCT_IMAGES = 16;

async function photo(seed: number): Promise<Buffer> {
  const grain = await sharp({ create: { width: 800, height: 600, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 16 } } })
    .png()
    .toBuffer();
  return sharp(await syntheticPhoto(seed, 800, 600))
    .composite([{ input: grain, blend: 'soft-light' }])
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** user + system CPU ms of another process (Linux /proc), or NaN elsewhere. */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    return processCpuSeconds(pid) * 1000;
  } catch {
    return Number.NaN;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'imagefleet-ipc-bench-'));
const model = await makeTinyModel(join(dir, 'tiny'), { seed: 1 });
const images = await Promise.all(Array.from({ length: DISTINCT_IMAGES }, (_, i) => photo(i + 1)));
const meanKiB = images.reduce((sum, image) => sum + image.length, 0) / images.length / 1024;
const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
const host = new EngineHost({
  ...model,
  slots: SLOTS,
  contextPerSlot: 512,
  gpuLayers: 0,
  threads: 2,
  libVariant: 'default',
  loadTimeoutMs: 120_000,
  restartBackoffMs: 500,
  logger: createLogger('bench', 'silent'),
});
await host.start();

async function run(count: number): Promise<{ latencies: number[]; engineMs: number }> {
  let next = 0;
  let engineMs = 0;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) {
        const index = next++;
        const started = performance.now();
        const answer = await host.analyze({ imageJpeg: images[index % images.length]!, prompt: 'Is this a photo?', schema, maxTokens: 8, seed: index + 1, deadlineMs: 120_000 });
        latencies.push(performance.now() - started);
        engineMs += answer.promptMs + answer.generationMs;
      }
    }),
  );
  return { latencies, engineMs };
}

try {
  await run(WARMUP);
  const hostCpuBefore = processCpuMs(host.pid);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const { latencies, engineMs } = await run(REQUESTS);
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const hostCpuMs = processCpuMs(host.pid) - hostCpuBefore;
  latencies.sort((a, b) => a - b);
  const median = latencies[Math.floor(latencies.length / 2)]!;
  const mean = latencies.reduce((sum, value) => sum + value, 0) / latencies.length;
  console.log(`engine IPC bench: ${REQUESTS} requests, ${IN_FLIGHT} in flight, ${SLOTS} slot(s), 800x600 JPEGs of ${meanKiB.toFixed(0)} KiB on average, tiny model, CPU`);
  console.log(`  round trip:      mean ${mean.toFixed(2)} ms, median ${median.toFixed(2)} ms, wall ${(wallMs / REQUESTS).toFixed(2)} ms/request`);
  console.log(`  engine-reported: ${(engineMs / REQUESTS).toFixed(2)} ms/request (prompt + generation)`);
  console.log(`  worker CPU:      ${((cpu.user + cpu.system) / 1000 / REQUESTS).toFixed(3)} ms/request (user ${(cpu.user / 1000 / REQUESTS).toFixed(3)}, system ${(cpu.system / 1000 / REQUESTS).toFixed(3)})`);
  console.log(`  host CPU:        ${(hostCpuMs / REQUESTS).toFixed(2)} ms/request`);
} finally {
  await host.close();
  rmSync(dir, { recursive: true, force: true });
}

/** CPU ms per call of encode, over enough calls to fill about a second. */
function cpuPerCall(encode: (image: Buffer) => number): number {
  let sink = 0;
  for (let i = 0; i < 50; i++) sink += encode(images[i % images.length]!);
  const before = process.cpuUsage();
  let calls = 0;
  const until = performance.now() + 1000;
  while (performance.now() < until) {
    for (let i = 0; i < 20; i++, calls++) sink += encode(images[calls % images.length]!);
  }
  const cpu = process.cpuUsage(before);
  if (sink === 0) console.log('(nothing encoded)');
  return (cpu.user + cpu.system) / 1000 / calls;
}
const request = (image: Buffer) => ({ id: 1, prompt: 'Is this a photo?', schema, maxTokens: 8, seed: 1, image });
// What Node's IPC does per message: 'json' writes JSON.stringify(message) + '\n' as UTF-8;
// 'advanced' writes a v8 serializer buffer (node:v8's serialize is the same serializer).
const json = cpuPerCall((image) => {
  const { image: _image, ...rest } = request(image);
  return Buffer.from(`${JSON.stringify({ type: 'analyze', request: { ...rest, imageBase64: image.toString('base64') } })}\n`).length;
});
const advanced = cpuPerCall((image) => serialize({ type: 'analyze', request: request(image) }).length);
console.log(`  encoding one message (no child): json + base64 ${json.toFixed(3)} ms, advanced (bytes) ${advanced.toFixed(3)} ms`);
