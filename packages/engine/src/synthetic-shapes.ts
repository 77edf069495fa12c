/**
 * The shapes of Qwen3-VL-2B/4B/8B-Instruct, copied from the `text_config` and `vision_config` of
 * their public config.json files (field names kept as there), and the parameter counts their
 * model pages publish. The synthetic models (synthetic-model.ts) are built from these numbers
 * alone, so a model of the real size can be generated, loaded and measured without a download.
 */
export interface Qwen3VlShape {
  /** The `--like` name. */
  key: string;
  /** The published model this shape copies. */
  name: string;
  /** Parameters of the whole model (text + vision) as published, e.g. 2.13B. */
  publishedParameters: number;
  /** True for shapes made up for tests (tiny dimensions, same architecture). */
  testOnly: boolean;
  text: {
    hidden_size: number;
    intermediate_size: number;
    num_hidden_layers: number;
    num_attention_heads: number;
    num_key_value_heads: number;
    head_dim: number;
    vocab_size: number;
    max_position_embeddings: number;
    rope_theta: number;
    rms_norm_eps: number;
    tie_word_embeddings: boolean;
    /** rope_scaling.mrope_section: rotary pairs per position axis (time, height, width). */
    mrope_section: [number, number, number];
  };
  vision: {
    depth: number;
    hidden_size: number;
    intermediate_size: number;
    num_heads: number;
    in_channels: number;
    patch_size: number;
    temporal_patch_size: number;
    spatial_merge_size: number;
    /** Learned position embeddings: (image_size / patch_size)^2, so 2304 means 768 px. */
    num_position_embeddings: number;
    /** The merger's output: the text model's hidden size. */
    out_hidden_size: number;
    /** Vision blocks whose output also feeds the text model through the deepstack mergers. */
    deepstack_visual_indexes: number[];
  };
}

const qwenText = { vocab_size: 151936, max_position_embeddings: 262144, rope_theta: 5_000_000, rms_norm_eps: 1e-6, head_dim: 128, mrope_section: [24, 20, 20] as [number, number, number] };
const qwenVision = { in_channels: 3, patch_size: 16, temporal_patch_size: 2, spatial_merge_size: 2, num_position_embeddings: 2304, num_heads: 16 };

export const qwen3VlShapes = {
  'qwen3-vl-2b': {
    key: 'qwen3-vl-2b',
    name: 'Qwen3-VL-2B-Instruct',
    publishedParameters: 2.13e9,
    testOnly: false,
    text: { ...qwenText, hidden_size: 2048, intermediate_size: 6144, num_hidden_layers: 28, num_attention_heads: 16, num_key_value_heads: 8, tie_word_embeddings: true },
    vision: { ...qwenVision, depth: 24, hidden_size: 1024, intermediate_size: 4096, out_hidden_size: 2048, deepstack_visual_indexes: [5, 11, 17] },
  },
  'qwen3-vl-4b': {
    key: 'qwen3-vl-4b',
    name: 'Qwen3-VL-4B-Instruct',
    publishedParameters: 4.44e9,
    testOnly: false,
    text: { ...qwenText, hidden_size: 2560, intermediate_size: 9728, num_hidden_layers: 36, num_attention_heads: 32, num_key_value_heads: 8, tie_word_embeddings: true },
    vision: { ...qwenVision, depth: 24, hidden_size: 1024, intermediate_size: 4096, out_hidden_size: 2560, deepstack_visual_indexes: [5, 11, 17] },
  },
  'qwen3-vl-8b': {
    key: 'qwen3-vl-8b',
    name: 'Qwen3-VL-8B-Instruct',
    publishedParameters: 8.77e9,
    testOnly: false,
    text: { ...qwenText, hidden_size: 4096, intermediate_size: 12288, num_hidden_layers: 36, num_attention_heads: 32, num_key_value_heads: 8, tie_word_embeddings: false },
    vision: { ...qwenVision, depth: 27, hidden_size: 1152, intermediate_size: 4304, out_hidden_size: 4096, deepstack_visual_indexes: [8, 16, 24] },
  },
  // Test-only: the same architecture (M-RoPE sections in the same ratio, deepstack, merger) with
  // tiny dimensions: ~2 MB, loads and answers in llama-server in well under a second.
  'qwen3-vl-tiny': {
    key: 'qwen3-vl-tiny',
    name: 'Qwen3-VL-tiny (test shape)',
    publishedParameters: 0,
    testOnly: true,
    text: {
      hidden_size: 64, intermediate_size: 128, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, vocab_size: 4096,
      max_position_embeddings: 32768, rope_theta: 5_000_000, rms_norm_eps: 1e-6, tie_word_embeddings: true, mrope_section: [6, 5, 5],
    },
    vision: { ...qwenVision, depth: 4, hidden_size: 64, intermediate_size: 128, num_heads: 4, num_position_embeddings: 64, out_hidden_size: 64, deepstack_visual_indexes: [1, 2, 3] },
  },
} satisfies Record<string, Qwen3VlShape>;

export type SyntheticShapeKey = keyof typeof qwen3VlShapes;
export const syntheticShapeKeys = Object.keys(qwen3VlShapes) as SyntheticShapeKey[];
/** The shapes of published models (what `--like` offers besides test shapes). */
export const publishedShapeKeys = syntheticShapeKeys.filter((key) => !qwen3VlShapes[key].testOnly);

export function syntheticShape(key: string): Qwen3VlShape {
  const shape = (qwen3VlShapes as Record<string, Qwen3VlShape>)[key];
  if (!shape) throw new Error(`unknown shape ${key}: one of ${syntheticShapeKeys.join(', ')}`);
  return shape;
}

/** Image side the learned position embeddings cover: sqrt(num_position_embeddings) x patch size (768 px). */
export const visionImageSize = (shape: Qwen3VlShape) => Math.round(Math.sqrt(shape.vision.num_position_embeddings)) * shape.vision.patch_size;
