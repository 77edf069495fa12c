import { ImagefleetError, type Logger } from '@imagefleet/core';
import type { AnalyzeInput, VisionEngine } from './engine-host.js';
import type { HostAnalyzeResult } from './protocol.js';

export interface OpenAiEngineOptions {
  /** e.g. http://127.0.0.1:8081/v1 */
  baseUrl: string;
  apiKey?: string;
  model?: string;
  /** Concurrent requests; 0 = ask the server (llama-server /props total_slots), else 4. */
  slots: number;
  logger: Logger;
}

interface ChatCompletion {
  model?: string;
  choices?: { message?: { content?: string | null }; finish_reason?: string }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  timings?: { prompt_ms?: number; predicted_ms?: number };
}

/**
 * A vision engine behind an OpenAI-compatible chat/completions endpoint (llama-server with
 * --mmproj and -np, vLLM). The image goes as a data URL; the task's schema as response_format.
 */
export class OpenAiEngine implements VisionEngine {
  private up = false;
  slots = 4;
  restarts = 0;
  modelName = 'openai';

  constructor(private readonly options: OpenAiEngineOptions) {}

  get ready(): boolean {
    return this.up;
  }

  private headers(): Record<string, string> {
    return { 'content-type': 'application/json', ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}) };
  }

  private url(path: string): string {
    return `${this.options.baseUrl.replace(/\/+$/, '')}${path}`;
  }

  /** Checks the server answers and learns its model name and slot count. */
  async start(): Promise<void> {
    const models = await fetch(this.url('/models'), { headers: this.headers(), signal: AbortSignal.timeout(10_000) }).catch((error: Error) => {
      throw new Error(`the OpenAI-compatible server at ${this.options.baseUrl} does not answer: ${error.cause ?? error.message}`);
    });
    if (!models.ok) throw new Error(`GET ${this.url('/models')} answered ${models.status}`);
    const list = (await models.json().catch(() => ({}))) as { data?: { id?: string }[] };
    this.modelName = this.options.model ?? list.data?.[0]?.id ?? 'openai';
    this.slots = this.options.slots || (await this.serverSlots()) || 4;
    this.up = true;
    this.options.logger.info({ baseUrl: this.options.baseUrl, model: this.modelName, slots: this.slots }, 'openai-compatible engine ready');
  }

  /** llama-server reports its parallel slots at /props (outside /v1); others do not. */
  private async serverSlots(): Promise<number | undefined> {
    const root = this.options.baseUrl.replace(/\/v1\/?$/, '');
    const response = await fetch(`${root}/props`, { headers: this.headers(), signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    if (!response?.ok) return undefined;
    const props = (await response.json().catch(() => ({}))) as { total_slots?: number };
    return typeof props.total_slots === 'number' && props.total_slots > 0 ? props.total_slots : undefined;
  }

  async analyze(input: AnalyzeInput): Promise<HostAnalyzeResult> {
    const started = performance.now();
    const body = {
      ...(this.options.model ? { model: this.options.model } : {}),
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${input.imageJpeg.toString('base64')}` } },
            { type: 'text', text: input.prompt },
          ],
        },
      ],
      response_format: { type: 'json_schema', json_schema: { name: 'result', strict: true, schema: input.schema } },
      max_tokens: input.maxTokens,
      seed: input.seed,
      temperature: 0.2,
    };
    let response: Response;
    try {
      response = await fetch(this.url('/chat/completions'), { method: 'POST', headers: this.headers(), body: JSON.stringify(body), signal: AbortSignal.timeout(input.deadlineMs) });
    } catch (error) {
      this.up = false;
      if ((error as Error).name === 'TimeoutError') throw new ImagefleetError('engine_timeout', `The engine server did not answer within ${input.deadlineMs} ms`);
      throw new ImagefleetError('engine_unreachable', `The engine server at ${this.options.baseUrl} cannot be reached: ${(error as Error).cause ?? (error as Error).message}`);
    }
    const text = await response.text();
    if (response.status >= 500 || response.status === 429) {
      throw new ImagefleetError('engine_unreachable', `The engine server answered ${response.status}: ${text.slice(0, 300)}`);
    }
    if (!response.ok) throw new ImagefleetError('engine_rejected', `The engine server rejected the request (${response.status}): ${text.slice(0, 300)}`);
    this.up = true;
    let completion: ChatCompletion;
    try {
      completion = JSON.parse(text) as ChatCompletion;
    } catch {
      throw new ImagefleetError('engine_unreachable', `The engine server answered with something other than JSON: ${text.slice(0, 200)}`);
    }
    const choice = completion.choices?.[0];
    return {
      id: 0,
      text: choice?.message?.content ?? '',
      promptTokens: completion.usage?.prompt_tokens ?? 0,
      completionTokens: completion.usage?.completion_tokens ?? 0,
      promptMs: completion.timings?.prompt_ms ?? 0,
      generationMs: completion.timings?.predicted_ms ?? performance.now() - started,
      truncated: choice?.finish_reason === 'length',
    };
  }

  async close(): Promise<void> {
    this.up = false;
  }
}
