/**
 * Messages between a worker and its engine host child process. The channel uses Node's 'advanced'
 * IPC serialization (the structured clone algorithm), so image bytes travel as binary: a Buffer
 * sent by the worker arrives in the host as a plain Uint8Array.
 */

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
  /** JPEG bytes: only images that imaging decoded and re-encoded. A Uint8Array on arrival. */
  image: Uint8Array;
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
  /**
   * The request failed inside llama.cpp; the host exits after sending this (its context is
   * unusable). `started`: the other requests it had handed to the model, which die with it; any
   * other request sent to it was never started.
   */
  | { type: 'failed'; id: number; message: string; outOfMemory: boolean; started: number[] }
  /**
   * The host had already failed (it is exiting) when this request arrived, so it never started it:
   * the worker sends it again to the restarted host, and the request is not charged for the crash.
   */
  | { type: 'declined'; id: number };
