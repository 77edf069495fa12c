import type { Logger } from '@imagefleet/core';
import { ChatClient } from './chat-client.js';
import { EngineStartError, type AnalyzeInput, type EngineAnswer, type VisionEngine } from './vision-engine.js';

export interface OpenAiEngineOptions {
  /** e.g. http://127.0.0.1:8081/v1 */
  baseUrl: string;
  apiKey?: string;
  model?: string;
  /** Concurrent requests; 0 = ask the server (llama-server /props total_slots), else 4. */
  slots: number;
  /** Context tokens one job needs; a server that says it gives less per slot is refused at start. */
  contextPerSlot: number;
  /** How often the server's health is checked while running (readyz is false while it is away). */
  healthIntervalMs: number;
  logger: Logger;
}

/**
 * ENGINE=openai: an external OpenAI-compatible server (llama-server with --mmproj and -np, vLLM).
 * Checked at start (answers, takes images, enough context per slot) and watched while running.
 */
export class OpenAiEngine implements VisionEngine {
  readonly kind = 'openai';
  private up = false;
  private readonly client: ChatClient;
  private healthTimer: NodeJS.Timeout | undefined;
  /** One health check at a time (a hung server answers after the check's 3 s timeout, which can exceed the interval). */
  private checking = false;
  private closed = false;
  slots = 4;
  restarts = 0;
  modelName = 'openai';

  constructor(private readonly options: OpenAiEngineOptions) {
    this.client = new ChatClient(options);
  }

  get ready(): boolean {
    return this.up;
  }

  /** Checks the server answers and can serve our tasks; learns its model name and slot count. */
  async start(): Promise<void> {
    const capabilities = await this.client.capabilities();
    const { baseUrl } = this.options;
    if (capabilities.vision === false) throw new EngineStartError(`the server at ${baseUrl} reports no vision modality (a llama-server needs --mmproj)`);
    if (capabilities.contextPerSlot !== undefined && capabilities.contextPerSlot < this.options.contextPerSlot) {
      throw new EngineStartError(`the server at ${baseUrl} gives each slot ${capabilities.contextPerSlot} tokens of context; the tasks need ${this.options.contextPerSlot} (raise its -c or lower -np)`);
    }
    this.modelName = capabilities.modelName;
    this.slots = this.options.slots || capabilities.totalSlots || 4;
    this.up = true;
    this.healthTimer = setInterval(() => void this.checkHealth(), this.options.healthIntervalMs);
    this.healthTimer.unref();
    this.options.logger.info({ baseUrl, model: this.modelName, slots: this.slots, contextPerSlot: capabilities.contextPerSlot }, 'openai-compatible engine ready');
  }

  private async checkHealth(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    const healthy = await this.client.healthy().finally(() => (this.checking = false));
    // A check still in flight at close() must not mark a closed engine ready again.
    if (this.closed) return;
    if (healthy !== this.up) this.options.logger.warn({ baseUrl: this.options.baseUrl, healthy }, healthy ? 'engine server is back' : 'engine server is not answering its health check');
    this.up = healthy;
  }

  analyze(input: AnalyzeInput): Promise<EngineAnswer> {
    return this.client.complete(input, AbortSignal.timeout(input.deadlineMs));
  }

  async close(): Promise<void> {
    clearInterval(this.healthTimer);
    this.closed = true;
    this.up = false;
  }
}
