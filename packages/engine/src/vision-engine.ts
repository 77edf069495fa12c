/** What the worker asks of any vision engine, and what it gets back. */

export type EngineKind = 'llama' | 'server' | 'openai';

/** How a local engine (llama-server or the llama.node host) loads its model. */
export interface ModelLaunch {
  model: string;
  mmproj: string;
  /** Parallel sequences (slots) on the one loaded model. */
  slots: number;
  /** Context tokens per slot; the model's context is slots x this. */
  contextPerSlot: number;
  gpuLayers: number;
  threads: number;
}

export interface AnalyzeInput {
  /** JPEG bytes: only images that imaging decoded and re-encoded. */
  imageJpeg: Buffer;
  prompt: string;
  schema: Record<string, unknown>;
  maxTokens: number;
  seed: number;
  /** The engine is restarted (where it can be) if this request takes longer. */
  deadlineMs: number;
}

export interface EngineAnswer {
  text: string;
  promptTokens: number;
  completionTokens: number;
  promptMs: number;
  generationMs: number;
  /** Generation stopped at the token limit or a full context, not at the end of the JSON. */
  truncated: boolean;
}

/** Figures an engine reports about itself, read at scrape time. */
export interface EngineStats {
  /** Share of the KV cache in use (llama-server's kv_cache_usage_ratio), when the engine says. */
  kvCacheUsageRatio?: number;
}

/**
 * One engine driver: the llama.node child process, a managed llama-server, or an external
 * OpenAI-compatible server. Drivers run requests and restart their process; what a failure costs
 * a job (crash charging, probation, OOM back-off) is decided by the EngineSupervisor.
 */
export interface VisionEngine {
  readonly kind: EngineKind;
  readonly ready: boolean;
  readonly slots: number;
  /** Restarts after a crash, timeout or resize. */
  readonly restarts: number;
  /** Model name as reported in results. */
  readonly modelName: string;
  analyze(input: AnalyzeInput): Promise<EngineAnswer>;
  /** Restarts the engine with fewer slots (after running out of memory); absent where it cannot. */
  resize?(slots: number): Promise<void>;
  stats?(): Promise<EngineStats>;
  close(): Promise<void>;
}

/** The engine cannot serve our tasks as configured: the worker stops at start with this one line. */
export class EngineStartError extends Error {
  override name = 'EngineStartError';
}
