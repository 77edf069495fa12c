/** Messages between a worker and its engine host child process (Node IPC, JSON). */

export interface HostLoadOptions {
  model: string;
  mmproj: string;
  /** Parallel sequences (slots) on the one loaded model. */
  slots: number;
  /** Context tokens per slot; the model's context is slots x this. */
  contextPerSlot: number;
  gpuLayers: number;
  threads: number;
  /** llama.node build: default (CPU), vulkan, cuda. */
  libVariant: 'default' | 'vulkan' | 'cuda';
}

export interface HostAnalyzeRequest {
  id: number;
  /** JPEG bytes, base64: only images that imaging decoded and re-encoded. */
  imageBase64: string;
  prompt: string;
  schema: Record<string, unknown>;
  maxTokens: number;
  seed: number;
}

export interface HostAnalyzeResult {
  id: number;
  text: string;
  promptTokens: number;
  completionTokens: number;
  promptMs: number;
  generationMs: number;
  /** Generation stopped at the token limit or a full context, not at the end of the JSON. */
  truncated: boolean;
}

export type ParentMessage =
  | { type: 'load'; options: HostLoadOptions }
  | { type: 'analyze'; request: HostAnalyzeRequest }
  | { type: 'shutdown' };

export type HostMessage =
  | { type: 'ready'; model: { name: string; parameters: number; sizeBytes: number; devices: string[] } }
  | { type: 'load_failed'; message: string }
  | { type: 'result'; result: HostAnalyzeResult }
  /** The request failed inside llama.cpp; the host exits after sending this (its context is unusable). */
  | { type: 'failed'; id: number; message: string; outOfMemory: boolean };
