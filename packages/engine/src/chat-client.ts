import { ImagefleetError } from '@imagefleet/core';
import type { AnalyzeInput, EngineAnswer } from './vision-engine.js';

export interface ChatClientOptions {
  /** e.g. http://127.0.0.1:8081/v1 */
  baseUrl: string;
  apiKey?: string;
  model?: string;
}

/** What a server says about itself at start (llama-server's /props and /v1/models; vLLM has only the latter). */
export interface ServerCapabilities {
  modelName: string;
  /** false when the server says it takes no images (llama-server without --mmproj); undefined when it does not say. */
  vision?: boolean;
  /** Context tokens per slot, when the server says (llama-server /props). */
  contextPerSlot?: number;
  totalSlots?: number;
}

interface ChatCompletion {
  model?: string;
  choices?: { message?: { content?: string | null }; finish_reason?: string }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  timings?: { prompt_ms?: number; predicted_ms?: number };
}

interface Props {
  total_slots?: number;
  modalities?: { vision?: boolean };
  default_generation_settings?: { n_ctx?: number };
}

/** Answers that no retry can change: the server cannot take images, or refuses the request itself. */
const UNSUPPORTED = /image input is not supported|multimodal is not supported|does not support (image|vision)|mmproj/i;
/** A prompt (with its image) longer than the slot's context: llama-server's 400 exceed_context_size_error, vLLM's "maximum context length". */
const CONTEXT_EXCEEDED = /exceed_context_size_error|exceeds the available context size|maximum context length/i;

function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/**
 * The OpenAI-compatible chat/completions call shared by the managed llama-server and an external
 * server: the image as a data URL, the task's schema as response_format, and the answer or the
 * failure mapped to the fleet's error codes.
 */
export class ChatClient {
  /** Context per slot as the server reported it at start; names the numbers of a "length" stop. */
  contextPerSlot: number | undefined;

  constructor(private readonly options: ChatClientOptions) {}

  get baseUrl(): string {
    return this.options.baseUrl.replace(/\/+$/, '');
  }

  /** The server root (outside /v1), where llama-server serves /health, /props, /slots, /metrics. */
  get rootUrl(): string {
    return this.baseUrl.replace(/\/v1$/, '');
  }

  private headers(): Record<string, string> {
    return { 'content-type': 'application/json', ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}) };
  }

  async getJson<T>(url: string, timeoutMs: number): Promise<T | undefined> {
    const response = await fetch(url, { headers: this.headers(), signal: AbortSignal.timeout(timeoutMs) }).catch(() => undefined);
    if (!response?.ok) return undefined;
    return (await response.json().catch(() => undefined)) as T | undefined;
  }

  async getText(url: string, timeoutMs: number): Promise<string | undefined> {
    const response = await fetch(url, { headers: this.headers(), signal: AbortSignal.timeout(timeoutMs) }).catch(() => undefined);
    return response?.ok ? response.text() : undefined;
  }

  /** True when the server answers its health check (llama-server /health, else /v1/models). */
  async healthy(timeoutMs = 3000): Promise<boolean> {
    for (const url of [`${this.rootUrl}/health`, `${this.baseUrl}/models`]) {
      const response = await fetch(url, { headers: this.headers(), signal: AbortSignal.timeout(timeoutMs) }).catch(() => undefined);
      if (response?.ok) return true;
      if (response && response.status !== 404) return false;
    }
    return false;
  }

  /** Model name, vision modality, context per slot and slots; throws with the reason when the server does not answer. */
  async capabilities(timeoutMs = 10_000): Promise<ServerCapabilities> {
    const models = await fetch(`${this.baseUrl}/models`, { headers: this.headers(), signal: AbortSignal.timeout(timeoutMs) }).catch((error: Error) => {
      throw new Error(`the OpenAI-compatible server at ${this.baseUrl} does not answer: ${String(error.cause ?? error.message)}`, { cause: error });
    });
    if (!models.ok) throw new Error(`GET ${this.baseUrl}/models answered ${models.status}`);
    const list = (await models.json().catch(() => ({}))) as { data?: { id?: string }[] };
    const props = await this.getJson<Props>(`${this.rootUrl}/props`, timeoutMs);
    const totalSlots = props?.total_slots && props.total_slots > 0 ? props.total_slots : undefined;
    const capabilities: ServerCapabilities = {
      modelName: this.options.model ?? list.data?.[0]?.id ?? 'openai',
      vision: props?.modalities?.vision,
      contextPerSlot: props?.default_generation_settings?.n_ctx,
      totalSlots,
    };
    this.contextPerSlot = capabilities.contextPerSlot;
    return capabilities;
  }

  requestBody(input: AnalyzeInput): string {
    return JSON.stringify({
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
    });
  }

  /**
   * One completion. Unreachable servers, 5xx and 429 are retryable (engine_unreachable); 4xx and a
   * server without image support are permanent (engine_rejected); a "length" stop before the
   * task's token limit, or a prompt the slot's context cannot hold, is the server's context
   * (engine_context_too_small).
   */
  async complete(input: AnalyzeInput, signal: AbortSignal): Promise<EngineAnswer> {
    const started = performance.now();
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}/chat/completions`, { method: 'POST', headers: this.headers(), body: this.requestBody(input), signal });
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') throw new ImagefleetError('engine_timeout', `The engine server did not answer within ${input.deadlineMs} ms`, { cause: error });
      throw new ImagefleetError('engine_unreachable', `The engine server at ${this.baseUrl} cannot be reached: ${String((error as Error).cause ?? (error as Error).message)}`, { cause: error });
    }
    const text = await response.text().catch(() => '');
    if (!response.ok) throw this.httpError(response.status, text, input.maxTokens);
    let completion: ChatCompletion;
    try {
      completion = JSON.parse(text) as ChatCompletion;
    } catch {
      throw new ImagefleetError('engine_unreachable', `The engine server answered with something other than JSON: ${text.slice(0, 200)}`);
    }
    const choice = completion.choices?.[0];
    const promptTokens = completion.usage?.prompt_tokens ?? 0;
    const completionTokens = completion.usage?.completion_tokens ?? 0;
    if (choice?.finish_reason === 'length' && completionTokens < input.maxTokens) {
      const context = this.contextPerSlot ? ` of its ${this.contextPerSlot}-token context per slot` : '';
      throw new ImagefleetError(
        'engine_context_too_small',
        `The engine server stopped at ${promptTokens} prompt + ${completionTokens} answer tokens${context}, before the task's limit of ${input.maxTokens} answer tokens: give the server a larger context per slot`,
        { detail: { promptTokens, completionTokens, maxTokens: input.maxTokens, contextPerSlot: this.contextPerSlot } },
      );
    }
    return {
      text: choice?.message?.content ?? '',
      promptTokens,
      completionTokens,
      promptMs: completion.timings?.prompt_ms ?? 0,
      generationMs: completion.timings?.predicted_ms ?? performance.now() - started,
      truncated: choice?.finish_reason === 'length',
    };
  }

  private httpError(status: number, body: string, maxTokens: number): ImagefleetError {
    const excerpt = body.slice(0, 300);
    if (UNSUPPORTED.test(body)) return new ImagefleetError('engine_rejected', `The engine server cannot analyse images (${status}): ${excerpt}`);
    if (status === 400 && CONTEXT_EXCEEDED.test(body)) {
      // The start check knows the text tokens only; the image's tokens can still overflow the slot.
      const error = parseJson<{ error?: { n_prompt_tokens?: number; n_ctx?: number } }>(body)?.error;
      const promptTokens = error?.n_prompt_tokens;
      const contextPerSlot = error?.n_ctx ?? this.contextPerSlot;
      const numbers = promptTokens !== undefined && contextPerSlot !== undefined ? `${promptTokens} prompt tokens do not fit its ${contextPerSlot}-token context per slot` : excerpt;
      return new ImagefleetError(
        'engine_context_too_small',
        `The engine server cannot hold the prompt and image (${status}): ${numbers}, and the task allows ${maxTokens} answer tokens besides: give the server a larger context per slot`,
        { detail: { promptTokens, maxTokens, contextPerSlot } },
      );
    }
    if (status >= 500 || status === 429 || status === 408) return new ImagefleetError('engine_unreachable', `The engine server answered ${status}: ${excerpt}`);
    return new ImagefleetError('engine_rejected', `The engine server rejected the request (${status}): ${excerpt}`);
  }
}
