// Exports what the GPU benchmark needs from the Node side into test/bench/gpu/ so that it runs on
// a machine without Node: spec.json (every synthetic model file described: metadata and tensors,
// the vocabulary as a marker that synthetic_gguf.py expands; the tagging request; the worker's
// context per slot; the planner's prediction per model and slot count) and images/*.jpg (sample
// photos prepared as the worker prepares them for tagging).
//
//   npm run build && node test/dist/bench/gpu/export-spec.js [--check]
// --check writes nothing and exits 1 when the files differ from what this code exports now.
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GgufType, planEngine, publishedShapeKeys, syntheticFileNames, syntheticProjectorFile, syntheticTextFile, syntheticWriter, validateModelPair,
  type DeviceMemory, type GgufValue, type SyntheticFile, type SyntheticType,
} from '@imagefleet/engine';
import { prepareJpeg } from '@imagefleet/imaging';
import { taggingTask } from '@imagefleet/tasks';
import { contextPerSlotFor } from '@imagefleet/worker';

const here = fileURLToPath(new URL('../../../bench/gpu/', import.meta.url));
const samples = fileURLToPath(new URL('../../../../samples/', import.meta.url));
export const BENCH_SLOTS = [1, 2, 4, 8, 16, 32];
/** The models the GPU benchmark can generate: every published shape in Q4_0 and Q8_0 (F16 mmproj), and the test shape. */
const MODELS: [string, SyntheticType][] = [
  ...publishedShapeKeys.flatMap((like) => (['q4_0', 'q8_0'] as const).map((type): [string, SyntheticType] => [like, type])),
  ['qwen3-vl-tiny', 'q8_0'],
];

type Entry = [string, number, unknown] | [string, number, number, unknown];

function metadataJson(entries: [string, GgufValue][]): Entry[] {
  return entries.map(([key, value]) => {
    if (value.type !== GgufType.ARRAY) return [key, value.type, typeof value.value === 'bigint' ? Number(value.value) : value.value];
    // The vocabulary is 151,936 tokens: synthetic_gguf.py rebuilds it from its size.
    if (key === 'tokenizer.ggml.tokens' || key === 'tokenizer.ggml.scores' || key === 'tokenizer.ggml.token_type') {
      return [key, value.type, value.itemType, { synthetic_vocabulary: value.values.length }];
    }
    return [key, value.type, value.itemType, value.values];
  });
}

function fileJson(file: SyntheticFile) {
  const writer = syntheticWriter(file, 1);
  return {
    bytes: writer.fileBytes(),
    metadata: metadataJson(writer.metadataEntries()),
    tensors: file.tensors.map((tensor) => [tensor.name, tensor.dims, tensor.type, tensor.init.kind === 'normal' ? ['normal', tensor.init.std] : ['constant', tensor.init.value]]),
  };
}

/** The planner's prediction for a model on a GPU at each slot count: what `imagefleet worker` would plan, without the margin. */
async function predictions(like: string, type: SyntheticType) {
  const dir = await mkdtemp(join(tmpdir(), 'imagefleet-spec-'));
  try {
    const names = syntheticFileNames({ like, type });
    const files = { model: join(dir, names.model), mmproj: join(dir, names.mmproj) };
    writeFileSync(files.model, syntheticWriter(syntheticTextFile(like, type), 1).headerBytes());
    writeFileSync(files.mmproj, syntheticWriter(syntheticProjectorFile(like, 'f16'), 1).headerBytes());
    const pair = await validateModelPair(files.model, files.mmproj, { headerOnly: true });
    const contextPerSlot = Math.min(contextPerSlotFor(pair), pair.model.contextLength ?? Number.MAX_SAFE_INTEGER);
    const device: DeviceMemory = { kind: 'gpu', index: 0, name: 'gpu', totalBytes: 2 ** 50, freeBytes: 2 ** 50, source: 'simulated' };
    const bySlots: Record<string, Record<string, number>> = {};
    for (const slots of BENCH_SLOTS) {
      const plan = await planEngine(pair.model, pair.projector, device, { contextPerSlot, maxSlots: slots, requestedSlots: slots, marginBytes: 0 });
      bySlots[slots] = {
        weights: plan.weightBytes, projector: plan.projectorBytes, projectorCompute: plan.projectorComputeBytes, context: plan.contextBytes,
        total: plan.weightBytes + plan.projectorBytes + plan.projectorComputeBytes + plan.contextBytes,
      };
    }
    return { contextPerSlot, bySlots };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function exportSpec(): Promise<{ spec: string; images: Map<string, Buffer> }> {
  const files: Record<string, unknown> = {};
  const models: Record<string, unknown> = {};
  for (const [like, type] of MODELS) {
    const names = syntheticFileNames({ like, type });
    files[names.model.replace(/\.gguf$/, '')] = fileJson(syntheticTextFile(like, type));
    files[names.mmproj.replace(/\.gguf$/, '')] ??= fileJson(syntheticProjectorFile(like, 'f16'));
    models[`${like}:${type}`] = { model: names.model, mmproj: names.mmproj, ...(await predictions(like, type)) };
  }
  const spec = {
    comment: 'Generated by test/bench/gpu/export-spec.ts (node test/dist/bench/gpu/export-spec.js); do not edit.',
    task: {
      name: 'tagging', prompt: taggingTask.prompt({}), schema: taggingTask.schema({}), maxTokens: taggingTask.maxOutputTokens({}), maxSide: taggingTask.budget.maxSide,
    },
    slots: BENCH_SLOTS,
    models,
    files,
  };
  const images = new Map<string, Buffer>();
  for (const name of readdirSync(samples).filter((file) => file.endsWith('.jpg')).sort()) {
    images.set(name, (await prepareJpeg(readFileSync(join(samples, name)), { maxPixels: 1e8 }, taggingTask.budget)).jpeg);
  }
  return { spec: `${JSON.stringify(spec)}\n`, images };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { spec, images } = await exportSpec();
  const imageDir = join(here, 'images');
  if (process.argv.includes('--check')) {
    const current = existsSync(join(here, 'spec.json')) ? readFileSync(join(here, 'spec.json'), 'utf8') : '';
    const stale = current !== spec || [...images].some(([name, bytes]) => !existsSync(join(imageDir, name)) || !readFileSync(join(imageDir, name)).equals(bytes));
    if (stale) {
      console.error('test/bench/gpu/spec.json or images/ are stale: run node test/dist/bench/gpu/export-spec.js');
      process.exit(1);
    }
  } else {
    writeFileSync(join(here, 'spec.json'), spec);
    rmSync(imageDir, { recursive: true, force: true });
    mkdirSync(imageDir, { recursive: true });
    for (const [name, bytes] of images) writeFileSync(join(imageDir, name), bytes);
    console.log(`wrote ${join(here, 'spec.json')} (${(spec.length / 1024).toFixed(0)} KiB) and ${images.size} images`);
  }
}
