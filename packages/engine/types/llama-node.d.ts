// Declarations for the part of @fugood/llama.node that imagefleet uses. The package ships its
// TypeScript sources instead of .d.ts files, and those sources do not compile under our strict
// settings, so tsconfig "paths" points the module name here. Shapes follow lib/binding.ts (1.7.x).

export type MessagePart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

export interface ChatMessage {
  role: string;
  content?: string | MessagePart[];
}

export interface LlamaModelOptions {
  model: string;
  n_ctx?: number;
  n_batch?: number;
  n_parallel?: number;
  n_threads?: number;
  n_gpu_layers?: number;
  devices?: string[];
  use_mmap?: boolean;
  flash_attn_type?: 'auto' | 'on' | 'off';
  lib_variant?: 'default' | 'vulkan' | 'cuda';
}

export interface CompletionResponseFormat {
  type: 'text' | 'json_object' | 'json_schema';
  json_schema?: { strict?: boolean; schema: Record<string, unknown> };
}

export interface LlamaCompletionOptions {
  messages?: ChatMessage[];
  prompt?: string;
  response_format?: CompletionResponseFormat;
  n_predict?: number;
  seed?: number;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  media_paths?: string[];
  n_threads?: number;
}

export interface LlamaCompletionResult {
  text: string;
  content?: string;
  tokens_predicted: number;
  /**
   * Prompt tokens (image tokens included) plus tokens_predicted: the binding adds the generated
   * tokens (LlamaCompletionWorker.cpp). The prompt alone is tokens_evaluated - tokens_predicted;
   * timings.prompt_n counts only what was decoded this time (1 when the prompt was cached).
   */
  tokens_evaluated: number;
  truncated: boolean;
  context_full: boolean;
  interrupted: boolean;
  timings: { prompt_n: number; prompt_ms: number; predicted_n: number; predicted_ms: number };
}

export interface LlamaParallelCompletionResult {
  requestId: number;
  text: string;
  content?: string;
  stopped_eos: boolean;
  stopped_limit: boolean;
  context_full: boolean;
  /** Not the prompt: in 1.7.x this equals tokens_predicted. Use timings.cache_n + timings.prompt_n. */
  tokens_evaluated: number;
  tokens_predicted: number;
  timings: {
    /** Prompt tokens reused from the slot's KV cache (not decoded again). */
    cache_n: number;
    /** Prompt tokens decoded for this request (image tokens included). */
    prompt_n: number;
    prompt_ms: number;
    predicted_n: number;
    predicted_ms: number;
  };
}

export interface LlamaParallelAPI {
  enable(config?: { n_parallel?: number; n_batch?: number }): Promise<boolean>;
  disable(): void;
  completion(options: LlamaCompletionOptions): Promise<{ requestId: number; promise: Promise<LlamaParallelCompletionResult>; stop: () => void }>;
}

export interface ModelInfo {
  desc: string;
  nEmbd: number;
  nParams: number;
  size: number;
  metadata: Record<string, string>;
}

export interface LlamaContextWrapper {
  parallel: LlamaParallelAPI;
  getModelInfo(): ModelInfo;
  getUsedDevices(): string[];
  completion(options: LlamaCompletionOptions): Promise<LlamaCompletionResult>;
  stopCompletion(): void;
  initMultimodal(options: { path: string; use_gpu?: boolean; image_min_tokens?: number; image_max_tokens?: number }): boolean;
  isMultimodalEnabled(): boolean;
  release(): Promise<void>;
}

export interface BackendDeviceInfo {
  backend: string;
  type: string;
  deviceName: string;
  maxMemorySize: number;
  metadata?: Record<string, unknown>;
}

export function loadModel(options: LlamaModelOptions, onProgress?: (progress: number) => void): Promise<LlamaContextWrapper>;
export function getBackendDevicesInfo(variant?: string): Promise<BackendDeviceInfo[]>;
export function toggleNativeLog(enable: boolean): Promise<void>;
