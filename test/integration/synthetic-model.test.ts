import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GgufInsights, readGgufFileInfo } from 'node-llama-cpp';
import { createLogger } from '@imagefleet/core';
import {
  CODE_STD, GgmlType, GgufWriter, LlamaServerEngine, encodeTensor, f16BitsToF32, makeSyntheticModel, syntheticProjectorFile, syntheticTextFile,
  syntheticVocabulary, syntheticWriter, validateModelPair, weightSource, type GgmlTypeName, type SyntheticProjectorType, type SyntheticType,
} from '@imagefleet/engine';
import { prepareJpeg } from '@imagefleet/imaging';
import { compileSchema, taggingTask } from '@imagefleet/tasks';
import { syntheticPhoto } from '../helpers/images.js';
import { llamaServerBinary } from '../helpers/llama-server.js';

/**
 * The published configs, copied here on their own (text_config / vision_config of
 * Qwen/Qwen3-VL-{2B,4B,8B}-Instruct config.json) so that the generator's shapes are checked
 * against numbers it does not share, together with the parameter counts the model pages publish.
 */
const published = {
  'qwen3-vl-2b': {
    parameters: 2.13e9,
    text: { hidden: 2048, ffn: 6144, layers: 28, heads: 16, kvHeads: 8, headDim: 128, vocab: 151936, tied: true, context: 262144 },
    vision: { depth: 24, hidden: 1024, ffn: 4096, heads: 16, patch: 16, temporalPatch: 2, merge: 2, positions: 2304, out: 2048, deepstack: [5, 11, 17] },
  },
  'qwen3-vl-4b': {
    parameters: 4.44e9,
    text: { hidden: 2560, ffn: 9728, layers: 36, heads: 32, kvHeads: 8, headDim: 128, vocab: 151936, tied: true, context: 262144 },
    vision: { depth: 24, hidden: 1024, ffn: 4096, heads: 16, patch: 16, temporalPatch: 2, merge: 2, positions: 2304, out: 2560, deepstack: [5, 11, 17] },
  },
  'qwen3-vl-8b': {
    parameters: 8.77e9,
    text: { hidden: 4096, ffn: 12288, layers: 36, heads: 32, kvHeads: 8, headDim: 128, vocab: 151936, tied: false, context: 262144 },
    vision: { depth: 27, hidden: 1152, ffn: 4304, heads: 16, patch: 16, temporalPatch: 2, merge: 2, positions: 2304, out: 4096, deepstack: [8, 16, 24] },
  },
} as const;
type Published = (typeof published)[keyof typeof published];

/** Bytes of a tensor of `elements` values, from the block layouts in ggml-common.h. */
function bytesOf(type: GgmlTypeName, elements: number): number {
  const layouts: Partial<Record<GgmlTypeName, [number, number]>> = { F32: [1, 4], F16: [1, 2], Q8_0: [32, 34], Q4_0: [32, 18], Q6_K: [256, 210] };
  const [per, bytes] = layouts[type]!;
  assert.equal(elements % per, 0);
  return (elements / per) * bytes;
}

interface Expected {
  dims: number[];
  type: GgmlTypeName;
}

/** The text model's tensors as llama.cpp's converter (and llama-quantize for Q4_0) would write them. */
function expectedText(config: Published, type: SyntheticType): Map<string, Expected> {
  const t = config.text;
  const matrices: GgmlTypeName = type === 'f16' ? 'F16' : type === 'q8_0' ? 'Q8_0' : 'Q4_0';
  // llama-quantize Q4_0 keeps the output matrix (the token embeddings when tied) in Q6_K.
  const output: GgmlTypeName = type === 'q4_0' ? 'Q6_K' : matrices;
  const tensors = new Map<string, Expected>();
  tensors.set('token_embd.weight', { dims: [t.hidden, t.vocab], type: t.tied ? output : matrices });
  if (!t.tied) tensors.set('output.weight', { dims: [t.hidden, t.vocab], type: output });
  tensors.set('output_norm.weight', { dims: [t.hidden], type: 'F32' });
  for (let i = 0; i < t.layers; i++) {
    tensors.set(`blk.${i}.attn_norm.weight`, { dims: [t.hidden], type: 'F32' });
    tensors.set(`blk.${i}.ffn_norm.weight`, { dims: [t.hidden], type: 'F32' });
    tensors.set(`blk.${i}.attn_q_norm.weight`, { dims: [t.headDim], type: 'F32' });
    tensors.set(`blk.${i}.attn_k_norm.weight`, { dims: [t.headDim], type: 'F32' });
    tensors.set(`blk.${i}.attn_q.weight`, { dims: [t.hidden, t.heads * t.headDim], type: matrices });
    tensors.set(`blk.${i}.attn_k.weight`, { dims: [t.hidden, t.kvHeads * t.headDim], type: matrices });
    tensors.set(`blk.${i}.attn_v.weight`, { dims: [t.hidden, t.kvHeads * t.headDim], type: matrices });
    tensors.set(`blk.${i}.attn_output.weight`, { dims: [t.heads * t.headDim, t.hidden], type: matrices });
    tensors.set(`blk.${i}.ffn_gate.weight`, { dims: [t.hidden, t.ffn], type: matrices });
    tensors.set(`blk.${i}.ffn_up.weight`, { dims: [t.hidden, t.ffn], type: matrices });
    tensors.set(`blk.${i}.ffn_down.weight`, { dims: [t.ffn, t.hidden], type: matrices });
  }
  return tensors;
}

/** The mmproj's tensors: HF Qwen3VLVisionModel (patch_embed Conv3d split in two, fused qkv, merger, deepstack mergers). */
function expectedVision(config: Published, type: SyntheticProjectorType): Map<string, Expected> {
  const v = config.vision;
  const merged = v.hidden * v.merge * v.merge;
  const matrix = (rows: number): GgmlTypeName => (type === 'q8_0' && rows % 32 === 0 ? 'Q8_0' : 'F16');
  const tensors = new Map<string, Expected>();
  const add = (name: string, dims: number[], kind: GgmlTypeName) => tensors.set(name, { dims, type: kind });
  add('v.patch_embd.weight', [v.patch, v.patch, 3, v.hidden], type === 'f16' ? 'F16' : 'F32');
  add('v.patch_embd.weight.1', [v.patch, v.patch, 3, v.hidden], type === 'f16' ? 'F16' : 'F32');
  add('v.patch_embd.bias', [v.hidden], 'F32');
  add('v.position_embd.weight', [v.hidden, v.positions], 'F32');
  for (let i = 0; i < v.depth; i++) {
    add(`v.blk.${i}.attn_qkv.weight`, [v.hidden, 3 * v.hidden], matrix(v.hidden));
    add(`v.blk.${i}.attn_qkv.bias`, [3 * v.hidden], 'F32');
    add(`v.blk.${i}.attn_out.weight`, [v.hidden, v.hidden], matrix(v.hidden));
    add(`v.blk.${i}.attn_out.bias`, [v.hidden], 'F32');
    for (const norm of ['ln1', 'ln2']) {
      add(`v.blk.${i}.${norm}.weight`, [v.hidden], 'F32');
      add(`v.blk.${i}.${norm}.bias`, [v.hidden], 'F32');
    }
    add(`v.blk.${i}.ffn_up.weight`, [v.hidden, v.ffn], matrix(v.hidden));
    add(`v.blk.${i}.ffn_up.bias`, [v.ffn], 'F32');
    add(`v.blk.${i}.ffn_down.weight`, [v.ffn, v.hidden], matrix(v.ffn));
    add(`v.blk.${i}.ffn_down.bias`, [v.hidden], 'F32');
  }
  add('v.post_ln.weight', [v.hidden], 'F32');
  add('v.post_ln.bias', [v.hidden], 'F32');
  for (const prefix of ['mm', ...v.deepstack.map((index) => `v.deepstack.${index}`)]) {
    const [fc1, fc2] = prefix === 'mm' ? ['mm.0', 'mm.2'] : [`${prefix}.fc1`, `${prefix}.fc2`];
    if (prefix !== 'mm') {
      add(`${prefix}.norm.weight`, [merged], 'F32');
      add(`${prefix}.norm.bias`, [merged], 'F32');
    }
    add(`${fc1}.weight`, [merged, merged], matrix(merged));
    add(`${fc1}.bias`, [merged], 'F32');
    add(`${fc2}.weight`, [merged, v.out], matrix(merged));
    add(`${fc2}.bias`, [v.out], 'F32');
  }
  return tensors;
}

const count = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

function assertTensors(writer: GgufWriter, expected: Map<string, Expected>, label: string): number {
  const infos = writer.tensorInfos();
  assert.deepEqual(infos.map((info) => info.name).sort(), [...expected.keys()].sort(), `${label}: tensor names`);
  let offset = 0;
  for (const info of infos) {
    const want = expected.get(info.name)!;
    assert.deepEqual(info.dims, want.dims, `${label}: ${info.name} shape`);
    assert.equal(info.type, want.type, `${label}: ${info.name} type`);
    assert.equal(info.byteSize, bytesOf(want.type, count(want.dims)), `${label}: ${info.name} bytes`);
    assert.equal(info.offset % 32, 0, `${label}: ${info.name} aligned`);
    assert.ok(info.offset >= offset, `${label}: ${info.name} after the previous tensor`);
    offset = info.offset + info.byteSize;
  }
  return infos.reduce((sum, info) => sum + info.elements, 0);
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-synthetic-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('synthetic models of the published Qwen3-VL shapes (tensor lists, nothing written)', () => {
  for (const [like, config] of Object.entries(published)) {
    test(`${like}: every tensor's name, shape, type and size, for every type; ${config.parameters / 1e9}B parameters`, async () => {
      let parameters = 0;
      for (const type of ['q8_0', 'q4_0', 'f16'] as const) {
        parameters = assertTensors(syntheticWriter(syntheticTextFile(like, type), 1), expectedText(config, type), `${like} ${type}`);
      }
      let vision = 0;
      for (const type of ['f16', 'q8_0'] as const) vision = assertTensors(syntheticWriter(syntheticProjectorFile(like, type), 1), expectedVision(config, type), `${like} mmproj ${type}`);
      const total = parameters + vision;
      assert.ok(Math.abs(total / config.parameters - 1) < 0.01, `${like}: ${total} parameters, published ${config.parameters}`);

      // node-llama-cpp reads the headers like a real file's: same tensors, same byte total, the metadata the planner uses.
      const writer = syntheticWriter(syntheticTextFile(like, 'q8_0'), 1);
      const header = join(dir, `${like}-header.gguf`);
      writeFileSync(header, writer.headerBytes());
      const info = await readGgufFileInfo(header, { logWarnings: false });
      assert.equal(info.tensorInfo?.length, writer.tensorInfos().length);
      const insights = await GgufInsights.from(info);
      assert.equal(insights.modelSize, writer.tensorInfos().reduce((sum, tensor) => sum + tensor.byteSize, 0));
      const metadata = info.metadata as unknown as Record<string, Record<string, unknown>>;
      assert.equal(metadata.general!.architecture, 'qwen3vl');
      assert.deepEqual(
        [metadata.qwen3vl!.embedding_length, metadata.qwen3vl!.block_count, metadata.qwen3vl!.feed_forward_length, metadata.qwen3vl!.context_length],
        [config.text.hidden, config.text.layers, config.text.ffn, config.text.context],
      );
      assert.equal((metadata.qwen3vl!.attention as Record<string, unknown>).head_count_kv, config.text.kvHeads);
      assert.equal((metadata.tokenizer!.ggml as Record<string, unknown[]>).tokens!.length, config.text.vocab);
      rmSync(header);
    });
  }
});

describe('GGUF block writing', () => {
  const dequantise = (bytes: Uint8Array, type: 'Q8_0' | 'Q4_0' | 'F16', n: number): Float32Array => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = new Float32Array(n);
    if (type === 'F16') {
      for (let i = 0; i < n; i++) out[i] = f16BitsToF32(view.getUint16(i * 2, true));
      return out;
    }
    const blockBytes = type === 'Q8_0' ? 34 : 18;
    for (let block = 0; block < n / 32; block++) {
      const d = f16BitsToF32(view.getUint16(block * blockBytes, true));
      for (let j = 0; j < 32; j++) {
        out[block * 32 + j] =
          type === 'Q8_0' ? d * view.getInt8(block * blockBytes + 2 + j) : d * (((bytes[block * blockBytes + 2 + (j % 16)]! >> (j < 16 ? 0 : 4)) & 15) - 8);
      }
    }
    return out;
  };

  test('Q8_0, Q4_0 and F16 encode to ggml blocks that decode within half a step (Q4_0: one at its clamped end)', () => {
    const values = Float32Array.from({ length: 32 * 64 }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 7)) * 0.01);
    for (const type of ['Q8_0', 'Q4_0', 'F16'] as const) {
      const bytes = encodeTensor(values, type);
      assert.equal(bytes.length, (values.length / GgmlType[type][1]) * GgmlType[type][2]);
      const decoded = dequantise(bytes, type, values.length);
      for (let block = 0; block < values.length / 32; block++) {
        const slice = values.subarray(block * 32, block * 32 + 32);
        const amax = Math.max(...slice.map(Math.abs));
        const step = type === 'Q8_0' ? amax / 127 : type === 'Q4_0' ? amax / 8 : amax / 1024;
        // Half a step, plus what rounding the block's scale to f16 moves the largest code (2^-11
        // relative); Q4_0 codes run from -8 to +7, so ggml clamps a value near +8 steps to +7: one step.
        const bound = (type === 'Q4_0' ? step : step / 2) + (type === 'F16' ? 0 : amax * 2 ** -10);
        for (let j = 0; j < 32; j++) assert.ok(Math.abs(decoded[block * 32 + j]! - slice[j]!) <= bound, `${type} block ${block} value ${j}`);
      }
    }
  });

  test('random blocks: real scales and codes, the requested spread, the same bytes for the same seed', () => {
    for (const type of ['Q8_0', 'Q4_0', 'F16'] as const) {
      const blocks = 4096;
      const bytes = new Uint8Array(new ArrayBuffer(type === 'F16' ? blocks * 64 : blocks * GgmlType[type][2]));
      weightSource(type, { kind: 'normal', std: 0.02 }, 7, 'blk.0.ffn_up.weight')()(bytes);
      const values = dequantise(bytes, type, blocks * 32);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
      assert.ok(Math.abs(std / 0.02 - 1) < 0.05, `${type}: std ${std}`);
      assert.ok(values.every(Number.isFinite));
      if (type !== 'F16') assert.equal(f16BitsToF32(bytes[0]! | (bytes[1]! << 8)), f16BitsToF32(bytes[GgmlType[type][2]]! | (bytes[GgmlType[type][2] + 1]! << 8)));
      const again = new Uint8Array(new ArrayBuffer(bytes.length));
      weightSource(type, { kind: 'normal', std: 0.02 }, 7, 'blk.0.ffn_up.weight')()(again);
      assert.deepEqual(again, bytes);
    }
    assert.ok(CODE_STD.Q8_0 > 70 && CODE_STD.Q4_0 > 4);
  });

  test('streams a large tensor in constant memory; the file equals toBuffer() and the same seed gives the same bytes', async () => {
    const make = (seed: number) => new GgufWriter().tensorStream('big', [4096, 8192], 'Q8_0', weightSource('Q8_0', { kind: 'normal', std: 0.01 }, seed, 'big')); // 34 MiB
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = process.memoryUsage();
    let peak = 0;
    await make(3).write(join(dir, 'big.gguf'), { onProgress: () => (peak = Math.max(peak, process.memoryUsage().rss)) });
    const grown = peak - before.rss;
    assert.ok(grown < 24 * 1024 ** 2, `RSS grew by ${(grown / 1024 ** 2).toFixed(1)} MiB while streaming 34 MiB`);
    const file = readFileSync(join(dir, 'big.gguf'));
    assert.ok(file.equals(make(3).toBuffer()), 'write() and toBuffer() agree');
    assert.ok(!file.equals(make(4).toBuffer()), 'another seed, other bytes');
    rmSync(join(dir, 'big.gguf'));
  });

  test('the vocabulary has exactly the size asked for, unique tokens, Qwen control tokens', () => {
    const { tokens, types } = syntheticVocabulary(151936);
    assert.equal(tokens.length, 151936);
    assert.equal(new Set(tokens).size, tokens.length);
    for (const special of ['<|im_start|>', '<|im_end|>', '<|vision_start|>', '<|vision_end|>']) assert.equal(types[tokens.indexOf(special)], 3);
    assert.equal(types.filter((type) => type === 6).length, 256);
  });
});

describe('a small synthetic model on disk: read back and served by the real llama-server', () => {
  const logger = createLogger('test-synthetic', 'silent');

  for (const [type, mmprojType] of [['q8_0', 'f16'], ['q4_0', 'q8_0'], ['f16', 'f16']] as const) {
    test(`qwen3-vl-tiny ${type} + mmproj ${mmprojType}: same bytes for the same seed, readable, answers an image request`, async () => {
      const files = await makeSyntheticModel(join(dir, type), { like: 'qwen3-vl-tiny', type, mmprojType, seed: 11 });
      const again = await makeSyntheticModel(join(dir, `${type}-again`), { like: 'qwen3-vl-tiny', type, mmprojType, seed: 11 });
      assert.ok(readFileSync(files.model).equals(readFileSync(again.model)) && readFileSync(files.mmproj).equals(readFileSync(again.mmproj)), 'reproducible from the seed');
      assert.equal(readFileSync(files.model).length, files.modelBytes);

      const info = await readGgufFileInfo(files.model, { logWarnings: false });
      const written = syntheticTextFile('qwen3-vl-tiny', type).tensors;
      assert.deepEqual(
        info.tensorInfo!.map((tensor) => [tensor.name, tensor.dimensions.map(Number), tensor.ggmlType]),
        written.map((tensor) => [tensor.name, tensor.dims, GgmlType[tensor.type][0]]),
      );
      const pair = await validateModelPair(files.model, files.mmproj);
      assert.deepEqual([pair.model.architecture, pair.projector.projectorType, pair.projector.projectionDim], ['qwen3vl', 'qwen3vl_merger', 64]);

      const engine = new LlamaServerEngine({
        binary: await llamaServerBinary(), model: files.model, mmproj: files.mmproj, slots: 1, contextPerSlot: 2048, gpuLayers: 0, threads: 1,
        loadTimeoutMs: 60_000, restartBackoffMs: 100, logger,
      });
      try {
        await engine.start();
        const image = await prepareJpeg(await syntheticPhoto(3, 300, 200), { maxPixels: 1e8 }, taggingTask.budget);
        const answer = await engine.analyze({
          imageJpeg: image.jpeg, prompt: taggingTask.prompt({}), schema: taggingTask.schema({}), maxTokens: taggingTask.maxOutputTokens({}), seed: 1, deadlineMs: 60_000,
        });
        assert.ok(compileSchema(taggingTask.schema({}))(JSON.parse(answer.text)), answer.text);
        // 300x200 -> (300/32 x 200/32) merged patches, rounded: ~60 image tokens plus the prompt.
        assert.ok(answer.promptTokens > 60, `prompt tokens ${answer.promptTokens}`);
      } finally {
        await engine.close();
      }
      rmSync(join(dir, `${type}-again`), { recursive: true, force: true });
    });
  }
});
