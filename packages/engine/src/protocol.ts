/**
 * Messages between a worker and its engine host child process. The channel uses Node's 'advanced'
 * IPC serialization (the structured clone algorithm), so image bytes travel as binary: a Buffer
 * sent by the worker arrives in the host as a plain Uint8Array.
 */
import type { EngineAnswer, ModelLaunch } from './vision-engine.js';

export interface HostLoadOptions extends ModelLaunch {
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

export interface HostAnalyzeResult extends EngineAnswer {
  id: number;
}

export type ParentMessage =
  | { type: 'load'; options: HostLoadOptions }
  | { type: 'analyze'; request: HostAnalyzeRequest }
  | { type: 'shutdown' };

export type HostMessage =
  | { type: 'ready'; model: { name: string; parameters: number; sizeBytes: number; devices: string[] } }
  /** `stack`: the host's own stack of the error, kept as the cause of the worker-side error. */
  | { type: 'load_failed'; message: string; stack?: string }
  | { type: 'result'; result: HostAnalyzeResult }
  /**
   * The request failed inside llama.cpp; the host exits after sending this (its context is
   * unusable). `started`: the other requests it had handed to the model, which die with it; any
   * other request sent to it was never started. `rejected`: llama.cpp refused this request's
   * schema (its grammar); the request is at fault, not the engine, and the others are innocent.
   */
  | { type: 'failed'; id: number; message: string; stack?: string; outOfMemory: boolean; rejected: boolean; started: number[] }
  /**
   * The host had already failed (it is exiting) when this request arrived, so it never started it:
   * the worker sends it again to the restarted host, and the request is not charged for the crash.
   */
  | { type: 'declined'; id: number };
