import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { GgufType, GgufWriter, type GgmlTypeName } from './gguf-writer.js';

/**
 * Shapes of real vision-language models (from their public configs), written as metadata-only
 * GGUF files: full headers and tensor infos, no tensor data. node-llama-cpp's insights read them
 * like the real files, so the planner can be tested, and asked, about models not on disk.
 */
export interface ReferenceModel {
  name: string;
  text: { embedding: number; layers: number; heads: number; kvHeads: number; headDim: number; feedForward: number; vocab: number; tiedEmbeddings: boolean; contextLength: number };
  vision: { width: number; blocks: number; feedForward: number; patchSize: number; deepstackLayers: number };
}

export const referenceModels: Record<string, ReferenceModel> = {
  'qwen3-vl-2b': {
    name: 'Qwen3-VL-2B-Instruct',
    text: { embedding: 2048, layers: 28, heads: 16, kvHeads: 8, headDim: 128, feedForward: 6144, vocab: 151936, tiedEmbeddings: true, contextLength: 262144 },
    vision: { width: 1024, blocks: 24, feedForward: 4096, patchSize: 16, deepstackLayers: 3 },
  },
  'qwen3-vl-4b': {
    name: 'Qwen3-VL-4B-Instruct',
    text: { embedding: 2560, layers: 36, heads: 32, kvHeads: 8, headDim: 128, feedForward: 9728, vocab: 151936, tiedEmbeddings: true, contextLength: 262144 },
    vision: { width: 1024, blocks: 24, feedForward: 4096, patchSize: 16, deepstackLayers: 3 },
  },
  'qwen3-vl-8b': {
    name: 'Qwen3-VL-8B-Instruct',
    text: { embedding: 4096, layers: 36, heads: 32, kvHeads: 8, headDim: 128, feedForward: 12288, vocab: 151936, tiedEmbeddings: false, contextLength: 262144 },
    vision: { width: 1152, blocks: 27, feedForward: 4304, patchSize: 16, deepstackLayers: 3 },
  },
};

/** Quantisation recipes: type of the large matrices, and of embeddings/output (kept higher). */
const QUANTS: Record<string, { matrices: GgmlTypeName; embeddings: GgmlTypeName; fileType: number }> = {
  Q4_K_M: { matrices: 'Q4_K', embeddings: 'Q6_K', fileType: 15 },
  Q8_0: { matrices: 'Q8_0', embeddings: 'Q8_0', fileType: 7 },
  F16: { matrices: 'F16', embeddings: 'F16', fileType: 1 },
};
export const referenceQuants = Object.keys(QUANTS);

export function referenceTextModel(key: string, quant: string): GgufWriter {
  const model = referenceModels[key];
  const recipe = QUANTS[quant];
  if (!model || !recipe) throw new Error(`unknown reference model ${key}:${quant}`);
  const t = model.text;
  const arch = 'qwen3vl';
  const gguf = new GgufWriter()
    .string('general.architecture', arch)
    .string('general.name', `${model.name}-${quant}`)
    .u32('general.file_type', recipe.fileType)
    .u32(`${arch}.context_length`, t.contextLength)
    .u32(`${arch}.embedding_length`, t.embedding)
    .u32(`${arch}.block_count`, t.layers)
    .u32(`${arch}.feed_forward_length`, t.feedForward)
    .u32(`${arch}.attention.head_count`, t.heads)
    .u32(`${arch}.attention.head_count_kv`, t.kvHeads)
    .u32(`${arch}.attention.key_length`, t.headDim)
    .u32(`${arch}.attention.value_length`, t.headDim)
    .f32(`${arch}.attention.layer_norm_rms_epsilon`, 1e-6)
    .f32(`${arch}.rope.freq_base`, 5_000_000)
    .array(`${arch}.rope.dimension_sections`, GgufType.INT32, [24, 20, 20, 0])
    .u32(`${arch}.n_deepstack_layers`, model.vision.deepstackLayers)
    .u32(`${arch}.vocab_size`, t.vocab)
    .string('tokenizer.ggml.model', 'gpt2')
    .array('tokenizer.ggml.tokens', GgufType.STRING, ['<|endoftext|>', '<|im_start|>', '<|im_end|>']);
  const q = t.heads * t.headDim;
  const kv = t.kvHeads * t.headDim;
  gguf.tensorInfo('token_embd.weight', [t.embedding, t.vocab], recipe.embeddings);
  if (!t.tiedEmbeddings) gguf.tensorInfo('output.weight', [t.embedding, t.vocab], recipe.embeddings);
  gguf.tensorInfo('output_norm.weight', [t.embedding], 'F32');
  for (let layer = 0; layer < t.layers; layer++) {
    const p = `blk.${layer}.`;
    gguf.tensorInfo(`${p}attn_norm.weight`, [t.embedding], 'F32');
    gguf.tensorInfo(`${p}attn_q.weight`, [t.embedding, q], recipe.matrices);
    gguf.tensorInfo(`${p}attn_k.weight`, [t.embedding, kv], recipe.matrices);
    gguf.tensorInfo(`${p}attn_v.weight`, [t.embedding, kv], recipe.embeddings);
    gguf.tensorInfo(`${p}attn_output.weight`, [q, t.embedding], recipe.matrices);
    gguf.tensorInfo(`${p}attn_q_norm.weight`, [t.headDim], 'F32');
    gguf.tensorInfo(`${p}attn_k_norm.weight`, [t.headDim], 'F32');
    gguf.tensorInfo(`${p}ffn_norm.weight`, [t.embedding], 'F32');
    gguf.tensorInfo(`${p}ffn_gate.weight`, [t.embedding, t.feedForward], recipe.matrices);
    gguf.tensorInfo(`${p}ffn_up.weight`, [t.embedding, t.feedForward], recipe.matrices);
    gguf.tensorInfo(`${p}ffn_down.weight`, [t.feedForward, t.embedding], recipe.embeddings);
  }
  return gguf;
}

/** The F16 vision projector (mmproj) that belongs to a reference model. */
export function referenceProjector(key: string): GgufWriter {
  const model = referenceModels[key];
  if (!model) throw new Error(`unknown reference model ${key}`);
  const v = model.vision;
  const merged = v.width * 4;
  const gguf = new GgufWriter()
    .string('general.architecture', 'clip')
    .string('general.name', `${model.name}-mmproj`)
    .u32('general.file_type', 1)
    .bool('clip.has_vision_encoder', true)
    .string('clip.projector_type', 'qwen3vl_merger')
    .u32('clip.vision.image_size', 768)
    .u32('clip.vision.patch_size', v.patchSize)
    .u32('clip.vision.embedding_length', v.width)
    .u32('clip.vision.feed_forward_length', v.feedForward)
    .u32('clip.vision.block_count', v.blocks)
    .u32('clip.vision.projection_dim', model.text.embedding)
    .u32('clip.vision.spatial_merge_size', 2);
  gguf.tensorInfo('v.patch_embd.weight', [v.patchSize, v.patchSize, 3, v.width], 'F16');
  gguf.tensorInfo('v.patch_embd.weight.1', [v.patchSize, v.patchSize, 3, v.width], 'F16');
  gguf.tensorInfo('v.position_embd.weight', [v.width, 2304], 'F16');
  for (let block = 0; block < v.blocks; block++) {
    const p = `v.blk.${block}.`;
    gguf.tensorInfo(`${p}attn_qkv.weight`, [v.width, 3 * v.width], 'F16');
    gguf.tensorInfo(`${p}attn_out.weight`, [v.width, v.width], 'F16');
    gguf.tensorInfo(`${p}ffn_up.weight`, [v.width, v.feedForward], 'F16');
    gguf.tensorInfo(`${p}ffn_down.weight`, [v.feedForward, v.width], 'F16');
  }
  for (let layer = 0; layer <= v.deepstackLayers; layer++) {
    gguf.tensorInfo(`mm.${layer}.0.weight`, [merged, merged], 'F16');
    gguf.tensorInfo(`mm.${layer}.2.weight`, [merged, model.text.embedding], 'F16');
  }
  return gguf;
}

/** Writes <dir>/<key>-<quant>.gguf and <dir>/<key>-mmproj.gguf (headers only: a few MB). */
export async function writeReferenceModel(dir: string, key: string, quant: string): Promise<{ model: string; mmproj: string }> {
  await mkdir(dir, { recursive: true });
  const files = { model: join(dir, `${key}-${quant}.gguf`), mmproj: join(dir, `${key}-mmproj.gguf`) };
  await referenceTextModel(key, quant).write(files.model);
  await referenceProjector(key).write(files.mmproj);
  return files;
}
