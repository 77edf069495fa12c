import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GgufType, GgufWriter } from './gguf-writer.js';

/**
 * A random-weight vision-language model pair (text model + mmproj) that the real llama.cpp
 * bindings load and run, so the whole inference path is exercised without downloading weights.
 * Its answers are noise; schema-constrained decoding keeps them well-formed.
 */
export interface TinyModelSpec {
  embedding: number;
  layers: number;
  heads: number;
  kvHeads: number;
  feedForward: number;
  contextLength: number;
  vision: { width: number; blocks: number; heads: number; feedForward: number; imageSize: number; patchSize: number };
}

export const tinyModelSizes: Record<'test' | 'bench', TinyModelSpec> = {
  // ~0.7 MB for both files: loads in ~10 ms, one image completion in tens of ms on a CPU.
  test: {
    embedding: 64, layers: 2, heads: 4, kvHeads: 2, feedForward: 128, contextLength: 4096,
    vision: { width: 32, blocks: 2, heads: 4, feedForward: 64, imageSize: 64, patchSize: 16 },
  },
  // Tens of MB, so that inference rather than overhead dominates a benchmark.
  bench: {
    embedding: 512, layers: 4, heads: 8, kvHeads: 4, feedForward: 1536, contextLength: 4096,
    vision: { width: 128, blocks: 3, heads: 4, feedForward: 256, imageSize: 128, patchSize: 16 },
  },
};

export const TINY_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const TOKEN_NORMAL = 1;
const TOKEN_UNKNOWN = 2;
const TOKEN_CONTROL = 3;
const TOKEN_BYTE = 6;

/** A SentencePiece vocabulary: specials, chat markers, 256 byte tokens (any text encodes), printable pieces. */
export function tinyVocabulary(): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens: string[] = ['<unk>', '<s>', '</s>', '<|im_start|>', '<|im_end|>'];
  const types: number[] = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL, TOKEN_CONTROL, TOKEN_CONTROL];
  for (let byte = 0; byte < 256; byte++) {
    tokens.push(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_BYTE);
  }
  const pieces = ['\u2581'];
  for (let code = 33; code < 127; code++) pieces.push(String.fromCharCode(code));
  pieces.push('\u2581a', '\u2581t', 'er', 'in', 'on', 'an', 're', 'th', '\u2581s', '\u2581c', 'at', 'en', 'or', 'es', 'ed');
  for (const piece of pieces) {
    tokens.push(piece);
    types.push(TOKEN_NORMAL);
  }
  const scores = tokens.map((token, index) => (types[index] === TOKEN_NORMAL ? -index / 10 - (token.length > 1 ? 0 : 5) : 0));
  return { tokens, scores, types };
}

/** mulberry32 -> roughly normal values (sum of uniforms), scaled. Deterministic per seed. */
function weights(seed: number) {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (count: number, scale = 0.05): Float32Array => {
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = (uniform() + uniform() + uniform() - 1.5) * scale;
    return values;
  };
}

const ones = (count: number) => new Float32Array(count).fill(1);
const zeros = (count: number) => new Float32Array(count);

export function tinyTextModel(spec: TinyModelSpec, seed: number): GgufWriter {
  const random = weights(seed);
  const { tokens, scores, types } = tinyVocabulary();
  const vocab = tokens.length;
  const n = spec.embedding;
  const headDim = n / spec.heads;
  const kv = headDim * spec.kvHeads;
  const gguf = new GgufWriter()
    .string('general.architecture', 'llama')
    .string('general.name', `imagefleet-tiny-vlm-${n}`)
    .u32('general.file_type', 0)
    .u32('llama.context_length', spec.contextLength)
    .u32('llama.embedding_length', n)
    .u32('llama.block_count', spec.layers)
    .u32('llama.feed_forward_length', spec.feedForward)
    .u32('llama.attention.head_count', spec.heads)
    .u32('llama.attention.head_count_kv', spec.kvHeads)
    .f32('llama.attention.layer_norm_rms_epsilon', 1e-5)
    .u32('llama.rope.dimension_count', headDim)
    .f32('llama.rope.freq_base', 10000)
    .u32('llama.vocab_size', vocab)
    .string('tokenizer.ggml.model', 'llama')
    .string('tokenizer.ggml.pre', 'default')
    .array('tokenizer.ggml.tokens', GgufType.STRING, tokens)
    .array('tokenizer.ggml.scores', GgufType.FLOAT32, scores)
    .array('tokenizer.ggml.token_type', GgufType.INT32, types)
    .u32('tokenizer.ggml.bos_token_id', 1)
    .u32('tokenizer.ggml.eos_token_id', 4)
    .u32('tokenizer.ggml.unknown_token_id', 0)
    .u32('tokenizer.ggml.padding_token_id', 0)
    .bool('tokenizer.ggml.add_bos_token', false)
    .bool('tokenizer.ggml.add_eos_token', false)
    // With a space prefix the JSON grammar sampler fails to initialise on this vocabulary.
    .bool('tokenizer.ggml.add_space_prefix', false)
    .string('tokenizer.chat_template', TINY_CHAT_TEMPLATE);
  gguf.tensor('token_embd.weight', [n, vocab], random(n * vocab, 0.5));
  gguf.tensor('output_norm.weight', [n], ones(n));
  gguf.tensor('output.weight', [n, vocab], random(n * vocab, 0.5));
  for (let layer = 0; layer < spec.layers; layer++) {
    const p = `blk.${layer}.`;
    gguf.tensor(`${p}attn_norm.weight`, [n], ones(n));
    gguf.tensor(`${p}ffn_norm.weight`, [n], ones(n));
    gguf.tensor(`${p}attn_q.weight`, [n, n], random(n * n));
    gguf.tensor(`${p}attn_k.weight`, [n, kv], random(n * kv));
    gguf.tensor(`${p}attn_v.weight`, [n, kv], random(n * kv));
    gguf.tensor(`${p}attn_output.weight`, [n, n], random(n * n));
    gguf.tensor(`${p}ffn_gate.weight`, [n, spec.feedForward], random(n * spec.feedForward));
    gguf.tensor(`${p}ffn_up.weight`, [n, spec.feedForward], random(n * spec.feedForward));
    gguf.tensor(`${p}ffn_down.weight`, [spec.feedForward, n], random(spec.feedForward * n));
  }
  return gguf;
}

/** A LLaVA-style CLIP projector (clip arch, projector "mlp") whose output size is the text model's n_embd. */
export function tinyProjector(spec: TinyModelSpec, seed: number): GgufWriter {
  const random = weights(seed + 7919);
  const { width, blocks, heads, feedForward, imageSize, patchSize } = spec.vision;
  const patches = (imageSize / patchSize) ** 2;
  const projection = spec.embedding;
  const gguf = new GgufWriter()
    .string('general.architecture', 'clip')
    .string('general.name', `imagefleet-tiny-mmproj-${projection}`)
    .u32('general.file_type', 0)
    .bool('clip.has_vision_encoder', true)
    .bool('clip.has_text_encoder', false)
    .string('clip.projector_type', 'mlp')
    .bool('clip.use_gelu', true)
    .u32('clip.vision.image_size', imageSize)
    .u32('clip.vision.patch_size', patchSize)
    .u32('clip.vision.embedding_length', width)
    .u32('clip.vision.feed_forward_length', feedForward)
    .u32('clip.vision.block_count', blocks)
    .u32('clip.vision.projection_dim', projection)
    .u32('clip.vision.attention.head_count', heads)
    .f32('clip.vision.attention.layer_norm_epsilon', 1e-6)
    .array('clip.vision.image_mean', GgufType.FLOAT32, [0.5, 0.5, 0.5])
    .array('clip.vision.image_std', GgufType.FLOAT32, [0.5, 0.5, 0.5]);
  gguf.tensor('v.patch_embd.weight', [patchSize, patchSize, 3, width], random(patchSize * patchSize * 3 * width));
  gguf.tensor('v.position_embd.weight', [width, patches], random(width * patches));
  for (let block = 0; block < blocks; block++) {
    const p = `v.blk.${block}.`;
    for (const name of ['attn_q', 'attn_k', 'attn_v', 'attn_out']) {
      gguf.tensor(`${p}${name}.weight`, [width, width], random(width * width));
      gguf.tensor(`${p}${name}.bias`, [width], zeros(width));
    }
    gguf.tensor(`${p}ln1.weight`, [width], ones(width));
    gguf.tensor(`${p}ln1.bias`, [width], zeros(width));
    gguf.tensor(`${p}ln2.weight`, [width], ones(width));
    gguf.tensor(`${p}ln2.bias`, [width], zeros(width));
    gguf.tensor(`${p}ffn_up.weight`, [width, feedForward], random(width * feedForward));
    gguf.tensor(`${p}ffn_up.bias`, [feedForward], zeros(feedForward));
    gguf.tensor(`${p}ffn_down.weight`, [feedForward, width], random(feedForward * width));
    gguf.tensor(`${p}ffn_down.bias`, [width], zeros(width));
  }
  gguf.tensor('mm.0.weight', [width, projection], random(width * projection));
  gguf.tensor('mm.0.bias', [projection], zeros(projection));
  gguf.tensor('mm.2.weight', [projection, projection], random(projection * projection));
  gguf.tensor('mm.2.bias', [projection], zeros(projection));
  return gguf;
}

export interface TinyModelFiles {
  model: string;
  mmproj: string;
}

/** Writes <dir>/model.gguf and <dir>/mmproj.gguf. The same seed and size give the same bytes. */
export async function makeTinyModel(dir: string, options: { seed?: number; size?: 'test' | 'bench' } = {}): Promise<TinyModelFiles> {
  const spec = tinyModelSizes[options.size ?? 'test'];
  const seed = options.seed ?? 1;
  await mkdir(dir, { recursive: true });
  const files = { model: join(dir, 'model.gguf'), mmproj: join(dir, 'mmproj.gguf') };
  await tinyTextModel(spec, seed).write(files.model);
  await tinyProjector(spec, seed).write(files.mmproj);
  return files;
}
