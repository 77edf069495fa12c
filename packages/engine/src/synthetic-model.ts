import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GgufType, GgufWriter, type GgmlTypeName, type GgufValue } from './gguf-writer.js';
import { syntheticShape, visionImageSize, type Qwen3VlShape } from './synthetic-shapes.js';
import { weightSource, type WeightInit } from './synthetic-weights.js';
import { TINY_CHAT_TEMPLATE } from './tiny-model.js';

/**
 * Synthetic Qwen3-VL models: llama.cpp's own `qwen3vl` text architecture and `qwen3vl_merger`
 * projector (with deepstack), every tensor of the published shape, random weights written as real
 * Q8_0 / Q4_0 / F16 blocks and streamed to disk in constant memory. They load and run in
 * llama-server like the real files and cost the same to load and to run; their answers are noise.
 */
export type SyntheticType = 'q8_0' | 'q4_0' | 'f16';
export const syntheticTypes: readonly SyntheticType[] = ['q8_0', 'q4_0', 'f16'];
export type SyntheticProjectorType = 'f16' | 'q8_0';
export const syntheticProjectorTypes: readonly SyntheticProjectorType[] = ['f16', 'q8_0'];

/** general.file_type (llama_ftype) of each type. */
const FILE_TYPES: Record<SyntheticType, number> = { f16: 1, q4_0: 2, q8_0: 7 };

export interface SyntheticOptions {
  like: string;
  type?: SyntheticType;
  /** The projector's type: F16 (what model publishers ship, the default) or Q8_0. */
  mmprojType?: SyntheticProjectorType;
  seed?: number;
}

const TOKEN_NORMAL = 1;
const TOKEN_UNKNOWN = 2;
const TOKEN_CONTROL = 3;
const TOKEN_BYTE = 6;

/** Qwen's control tokens that prompts and mtmd use (<|vision_start|> and <|vision_end|> frame each image). */
export const SYNTHETIC_SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|vision_start|>', '<|vision_end|>', '<|image_pad|>'];

/**
 * A SentencePiece vocabulary of exactly `size` tokens: <unk>, <s>, </s>, Qwen's control tokens,
 * 256 byte tokens (any text encodes), '▁' and printable ASCII, then lowercase pieces of growing
 * length ('▁a'.., 'aa'.., '▁aa'.., 'aaa'.., '▁aaa'.., 'aaaa'..) until the size is reached, so
 * English words tokenise into pieces of 3-4 characters, about what Qwen's BPE does. Deterministic
 * (test/bench/gpu/synthetic_gguf.py builds the same list).
 */
export function syntheticVocabulary(size: number): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens: string[] = ['<unk>', '<s>', '</s>', ...SYNTHETIC_SPECIAL_TOKENS];
  const types: number[] = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL, ...SYNTHETIC_SPECIAL_TOKENS.map(() => TOKEN_CONTROL)];
  for (let byte = 0; byte < 256; byte++) {
    tokens.push(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_BYTE);
  }
  const push = (piece: string) => {
    if (tokens.length >= size) return false;
    tokens.push(piece);
    types.push(TOKEN_NORMAL);
    return true;
  };
  push('\u2581');
  for (let code = 33; code < 127; code++) push(String.fromCharCode(code));
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let words = [''];
  for (let length = 1; tokens.length < size; length++) {
    words = words.flatMap((word) => [...letters].map((letter) => word + letter));
    for (const prefix of length === 1 ? ['\u2581'] : ['', '\u2581']) {
      for (const word of words) if (!push(prefix + word)) break;
    }
  }
  if (tokens.length !== size) throw new Error(`a vocabulary of ${size} tokens is too small for the ${tokens.length} fixed ones`);
  const scores = tokens.map((_, index) => (types[index] === TOKEN_NORMAL ? -index / 1000 : 0));
  return { tokens, scores, types };
}

/** One tensor of a synthetic model: what the header says and how its data is made. */
export interface SyntheticTensor {
  name: string;
  dims: number[];
  type: GgmlTypeName;
  init: WeightInit;
}

/** A whole synthetic GGUF file, described: metadata and tensors (what the Python generator reads too). */
export interface SyntheticFile {
  metadata: [string, GgufValue][];
  tensors: SyntheticTensor[];
}

const ones: WeightInit = { kind: 'constant', value: 1 };
const zeros: WeightInit = { kind: 'constant', value: 0 };
/** Small weights (std 0.5 / sqrt(fan-in)): every matmul keeps activations near unit scale, so nothing overflows. */
const matrix = (fanIn: number): WeightInit => ({ kind: 'normal', std: 0.5 / Math.sqrt(fanIn) });
const embedding: WeightInit = { kind: 'normal', std: 0.02 };

/**
 * What llama.cpp's tools would write for this type: `convert_hf_to_gguf --outtype f16|q8_0` keeps
 * every matrix in that type; `llama-quantize Q4_0` makes matrices Q4_0 but the output matrix (the
 * token embeddings when tied) Q6_K, or Q8_0 when its rows are not a multiple of 256.
 */
function textTypes(shape: Qwen3VlShape, type: SyntheticType): { matrices: GgmlTypeName; tokenEmbd: GgmlTypeName; output: GgmlTypeName } {
  if (type === 'f16') return { matrices: 'F16', tokenEmbd: 'F16', output: 'F16' };
  if (type === 'q8_0') return { matrices: 'Q8_0', tokenEmbd: 'Q8_0', output: 'Q8_0' };
  const output: GgmlTypeName = shape.text.hidden_size % 256 === 0 ? 'Q6_K' : 'Q8_0';
  return { matrices: 'Q4_0', tokenEmbd: shape.text.tie_word_embeddings ? output : 'Q4_0', output };
}

const u32 = (value: number): GgufValue => ({ type: GgufType.UINT32, value });
const f32 = (value: number): GgufValue => ({ type: GgufType.FLOAT32, value });
const str = (value: string): GgufValue => ({ type: GgufType.STRING, value });
const bool = (value: boolean): GgufValue => ({ type: GgufType.BOOL, value });

/** The text model (`qwen3vl`): names, shapes and types as llama.cpp's converter writes them. */
export function syntheticTextFile(shapeOrKey: Qwen3VlShape | string, type: SyntheticType = 'q8_0'): SyntheticFile {
  const shape = typeof shapeOrKey === 'string' ? syntheticShape(shapeOrKey) : shapeOrKey;
  const t = shape.text;
  const arch = 'qwen3vl';
  const { tokens, scores, types } = syntheticVocabulary(t.vocab_size);
  const eos = tokens.indexOf('<|im_end|>');
  const metadata: [string, GgufValue][] = [
    ['general.architecture', str(arch)],
    ['general.name', str(`${shape.name} synthetic ${type.toUpperCase()}`)],
    ['general.file_type', u32(FILE_TYPES[type])],
    [`${arch}.context_length`, u32(t.max_position_embeddings)],
    [`${arch}.embedding_length`, u32(t.hidden_size)],
    [`${arch}.block_count`, u32(t.num_hidden_layers)],
    [`${arch}.feed_forward_length`, u32(t.intermediate_size)],
    [`${arch}.attention.head_count`, u32(t.num_attention_heads)],
    [`${arch}.attention.head_count_kv`, u32(t.num_key_value_heads)],
    [`${arch}.attention.key_length`, u32(t.head_dim)],
    [`${arch}.attention.value_length`, u32(t.head_dim)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(t.rms_norm_eps)],
    [`${arch}.rope.dimension_count`, u32(t.head_dim)],
    [`${arch}.rope.freq_base`, f32(t.rope_theta)],
    [`${arch}.rope.dimension_sections`, { type: GgufType.ARRAY, itemType: GgufType.INT32, values: [...t.mrope_section, 0] }],
    [`${arch}.n_deepstack_layers`, u32(shape.vision.deepstack_visual_indexes.length)],
    ['tokenizer.ggml.model', str('llama')],
    ['tokenizer.ggml.pre', str('default')],
    ['tokenizer.ggml.tokens', { type: GgufType.ARRAY, itemType: GgufType.STRING, values: tokens }],
    ['tokenizer.ggml.scores', { type: GgufType.ARRAY, itemType: GgufType.FLOAT32, values: scores }],
    ['tokenizer.ggml.token_type', { type: GgufType.ARRAY, itemType: GgufType.INT32, values: types }],
    ['tokenizer.ggml.bos_token_id', u32(tokens.indexOf('<|endoftext|>'))],
    ['tokenizer.ggml.eos_token_id', u32(eos)],
    ['tokenizer.ggml.unknown_token_id', u32(0)],
    ['tokenizer.ggml.padding_token_id', u32(tokens.indexOf('<|endoftext|>'))],
    ['tokenizer.ggml.add_bos_token', bool(false)],
    ['tokenizer.ggml.add_eos_token', bool(false)],
    // With a space prefix the JSON grammar sampler fails to initialise on a SentencePiece vocabulary (FINDINGS).
    ['tokenizer.ggml.add_space_prefix', bool(false)],
    ['tokenizer.chat_template', str(TINY_CHAT_TEMPLATE)],
  ];
  const kinds = textTypes(shape, type);
  const h = t.hidden_size;
  const q = t.num_attention_heads * t.head_dim;
  const kv = t.num_key_value_heads * t.head_dim;
  const tensors: SyntheticTensor[] = [{ name: 'token_embd.weight', dims: [h, t.vocab_size], type: kinds.tokenEmbd, init: embedding }];
  for (let layer = 0; layer < t.num_hidden_layers; layer++) {
    const p = `blk.${layer}.`;
    tensors.push(
      { name: `${p}attn_norm.weight`, dims: [h], type: 'F32', init: ones },
      { name: `${p}attn_q.weight`, dims: [h, q], type: kinds.matrices, init: matrix(h) },
      { name: `${p}attn_k.weight`, dims: [h, kv], type: kinds.matrices, init: matrix(h) },
      { name: `${p}attn_v.weight`, dims: [h, kv], type: kinds.matrices, init: matrix(h) },
      { name: `${p}attn_output.weight`, dims: [q, h], type: kinds.matrices, init: matrix(q) },
      { name: `${p}attn_q_norm.weight`, dims: [t.head_dim], type: 'F32', init: ones },
      { name: `${p}attn_k_norm.weight`, dims: [t.head_dim], type: 'F32', init: ones },
      { name: `${p}ffn_norm.weight`, dims: [h], type: 'F32', init: ones },
      { name: `${p}ffn_gate.weight`, dims: [h, t.intermediate_size], type: kinds.matrices, init: matrix(h) },
      { name: `${p}ffn_up.weight`, dims: [h, t.intermediate_size], type: kinds.matrices, init: matrix(h) },
      { name: `${p}ffn_down.weight`, dims: [t.intermediate_size, h], type: kinds.matrices, init: matrix(t.intermediate_size) },
    );
  }
  tensors.push({ name: 'output_norm.weight', dims: [h], type: 'F32', init: ones });
  if (!t.tie_word_embeddings) tensors.push({ name: 'output.weight', dims: [h, t.vocab_size], type: kinds.output, init: embedding });
  return { metadata, tensors };
}

/**
 * The vision projector (`clip`, projector `qwen3vl_merger`): the ViT (fused QKV, LayerNorms with
 * biases, GELU MLP), the 2x2 patch merger and one deepstack merger per deepstack layer, named and
 * typed as convert_hf_to_gguf writes an mmproj: 1-D tensors and the position embeddings F32, the
 * patch embedding F16 in an F16 file and F32 otherwise, a matrix whose rows are not a multiple of
 * 32 F16 in a Q8_0 file.
 */
export function syntheticProjectorFile(shapeOrKey: Qwen3VlShape | string, type: SyntheticProjectorType = 'f16'): SyntheticFile {
  const shape = typeof shapeOrKey === 'string' ? syntheticShape(shapeOrKey) : shapeOrKey;
  const v = shape.vision;
  const h = v.hidden_size;
  const merged = h * v.spatial_merge_size ** 2;
  const out = v.out_hidden_size;
  const metadata: [string, GgufValue][] = [
    ['general.architecture', str('clip')],
    ['general.name', str(`${shape.name} synthetic mmproj ${type.toUpperCase()}`)],
    ['general.file_type', u32(FILE_TYPES[type])],
    ['clip.has_vision_encoder', bool(true)],
    ['clip.projector_type', str('qwen3vl_merger')],
    ['clip.use_gelu', bool(true)],
    ['clip.vision.image_size', u32(visionImageSize(shape))],
    ['clip.vision.patch_size', u32(v.patch_size)],
    ['clip.vision.embedding_length', u32(h)],
    ['clip.vision.feed_forward_length', u32(v.intermediate_size)],
    ['clip.vision.block_count', u32(v.depth)],
    ['clip.vision.projection_dim', u32(shape.text.hidden_size)],
    ['clip.vision.attention.head_count', u32(v.num_heads)],
    ['clip.vision.attention.layer_norm_epsilon', f32(shape.text.rms_norm_eps)],
    ['clip.vision.image_mean', { type: GgufType.ARRAY, itemType: GgufType.FLOAT32, values: [0.5, 0.5, 0.5] }],
    ['clip.vision.image_std', { type: GgufType.ARRAY, itemType: GgufType.FLOAT32, values: [0.5, 0.5, 0.5] }],
    ['clip.vision.spatial_merge_size', u32(v.spatial_merge_size)],
    ['clip.vision.is_deepstack_layers', { type: GgufType.ARRAY, itemType: GgufType.BOOL, values: Array.from({ length: v.depth }, (_, i) => v.deepstack_visual_indexes.includes(i)) }],
  ];
  const matrixType = (rows: number): GgmlTypeName => (type === 'q8_0' && rows % 32 === 0 ? 'Q8_0' : 'F16');
  const weight = (name: string, dims: number[]): SyntheticTensor => ({ name, dims, type: matrixType(dims[0]!), init: matrix(dims[0]!) });
  const bias = (name: string, size: number): SyntheticTensor => ({ name, dims: [size], type: 'F32', init: zeros });
  const norm = (prefix: string, size: number): SyntheticTensor[] => [
    { name: `${prefix}.weight`, dims: [size], type: 'F32', init: ones },
    bias(`${prefix}.bias`, size),
  ];
  const patch = [v.patch_size, v.patch_size, v.in_channels, h];
  const patchFanIn = v.patch_size * v.patch_size * v.in_channels * v.temporal_patch_size;
  const patchType: GgmlTypeName = type === 'f16' ? 'F16' : 'F32';
  const tensors: SyntheticTensor[] = [
    { name: 'v.patch_embd.weight', dims: patch, type: patchType, init: matrix(patchFanIn) },
    { name: 'v.patch_embd.weight.1', dims: patch, type: patchType, init: matrix(patchFanIn) },
    bias('v.patch_embd.bias', h),
    { name: 'v.position_embd.weight', dims: [h, v.num_position_embeddings], type: 'F32', init: embedding },
  ];
  for (let block = 0; block < v.depth; block++) {
    const p = `v.blk.${block}.`;
    tensors.push(
      weight(`${p}attn_qkv.weight`, [h, 3 * h]),
      bias(`${p}attn_qkv.bias`, 3 * h),
      weight(`${p}attn_out.weight`, [h, h]),
      bias(`${p}attn_out.bias`, h),
      ...norm(`${p}ln1`, h),
      ...norm(`${p}ln2`, h),
      weight(`${p}ffn_up.weight`, [h, v.intermediate_size]),
      bias(`${p}ffn_up.bias`, v.intermediate_size),
      weight(`${p}ffn_down.weight`, [v.intermediate_size, h]),
      bias(`${p}ffn_down.bias`, h),
    );
  }
  tensors.push(
    ...norm('v.post_ln', h),
    weight('mm.0.weight', [merged, merged]),
    bias('mm.0.bias', merged),
    weight('mm.2.weight', [merged, out]),
    bias('mm.2.bias', out),
  );
  for (const index of v.deepstack_visual_indexes) {
    const p = `v.deepstack.${index}.`;
    tensors.push(
      ...norm(`${p}norm`, merged),
      weight(`${p}fc1.weight`, [merged, merged]),
      bias(`${p}fc1.bias`, merged),
      weight(`${p}fc2.weight`, [merged, out]),
      bias(`${p}fc2.bias`, out),
    );
  }
  return { metadata, tensors };
}

/** A described file as a GgufWriter whose tensors are streamed from the seed when written. */
export function syntheticWriter(file: SyntheticFile, seed: number): GgufWriter {
  const gguf = new GgufWriter();
  for (const [key, value] of file.metadata) gguf.set(key, value);
  for (const tensor of file.tensors) gguf.tensorStream(tensor.name, tensor.dims, tensor.type, weightSource(tensor.type, tensor.init, seed, tensor.name));
  return gguf;
}

export interface SyntheticModelFiles {
  model: string;
  mmproj: string;
  modelBytes: number;
  mmprojBytes: number;
}

export interface SyntheticProgress {
  file: 'model' | 'mmproj';
  writtenBytes: number;
  totalBytes: number;
}

/** File names: <like>-<TYPE>.gguf and <like>-mmproj-<TYPE>.gguf. */
export function syntheticFileNames(options: SyntheticOptions): { model: string; mmproj: string } {
  const type = (options.type ?? 'q8_0').toUpperCase();
  return { model: `${options.like}-${type}.gguf`, mmproj: `${options.like}-mmproj-${(options.mmprojType ?? 'f16').toUpperCase()}.gguf` };
}

/**
 * Writes the model + mmproj pair to `dir`, streamed (a few MB of memory whatever the size; an
 * 8B F16 model is ~16 GB). The same options and seed give the same bytes.
 */
export async function makeSyntheticModel(dir: string, options: SyntheticOptions, onProgress?: (progress: SyntheticProgress) => void): Promise<SyntheticModelFiles> {
  const shape = syntheticShape(options.like);
  const seed = options.seed ?? 1;
  await mkdir(dir, { recursive: true });
  const names = syntheticFileNames(options);
  const files = { model: join(dir, names.model), mmproj: join(dir, names.mmproj) };
  const model = syntheticWriter(syntheticTextFile(shape, options.type ?? 'q8_0'), seed);
  const mmproj = syntheticWriter(syntheticProjectorFile(shape, options.mmprojType ?? 'f16'), seed + 1);
  await model.write(files.model, { onProgress: (writtenBytes, totalBytes) => onProgress?.({ file: 'model', writtenBytes, totalBytes }) });
  await mmproj.write(files.mmproj, { onProgress: (writtenBytes, totalBytes) => onProgress?.({ file: 'mmproj', writtenBytes, totalBytes }) });
  return { ...files, modelBytes: model.fileBytes(), mmprojBytes: mmproj.fileBytes() };
}
