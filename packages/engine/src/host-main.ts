// The engine host: a child process that owns one loaded model. llama.cpp can abort the whole
// process on bad input, so it never runs inside the worker; this process may die, the worker not.
import { createHash } from 'node:crypto';
import { appendFileSync, rmSync } from 'node:fs';
import { loadModel, type LlamaCompletionOptions, type LlamaContextWrapper } from '@fugood/llama.node';
import type { HostAnalyzeRequest, HostAnalyzeResult, HostLoadOptions, HostMessage, ParentMessage } from './protocol.js';
import { GRAMMAR_REJECTED, OUT_OF_MEMORY } from './out-of-memory.js';

let context: LlamaContextWrapper | undefined;
let parallel = false;

function send(message: HostMessage): void {
  // With a callback, a closed channel is reported here instead of as an 'error' event that would
  // end this process; the worker is gone then, and 'disconnect' below ends the host anyway.
  process.send?.(message, undefined, undefined, () => {});
}


async function load(options: HostLoadOptions): Promise<void> {
  try {
    context = await loadModel({
      model: options.model,
      n_ctx: options.slots * options.contextPerSlot,
      n_parallel: options.slots,
      n_gpu_layers: options.gpuLayers,
      n_threads: options.threads,
      lib_variant: options.libVariant,
    });
    if (!context.initMultimodal({ path: options.mmproj, use_gpu: options.gpuLayers !== 0 })) {
      send({ type: 'load_failed', message: `the projector ${options.mmproj} could not be initialised for this model` });
      return;
    }
    if (options.slots > 1) parallel = await context.parallel.enable({ n_parallel: options.slots });
    const info = context.getModelInfo();
    send({ type: 'ready', model: { name: info.desc, parameters: info.nParams, sizeBytes: info.size, devices: context.getUsedDevices() } });
  } catch (error) {
    send({ type: 'load_failed', message: (error as Error).message, stack: (error as Error).stack });
  }
}

/** Set once a request failed inside the binding: the host is exiting and starts nothing new. */
let failing = false;
/** Requests handed to the model and not answered yet. */
const running = new Set<number>();

/** Reports a failed request and exits soon after (the binding's context is unusable now). */
function failAndExit(id: number, message: string, outOfMemory: boolean, stack?: string): void {
  failing = true;
  running.delete(id);
  send({ type: 'failed', id, message, stack, outOfMemory, rejected: !outOfMemory && GRAMMAR_REJECTED.test(message), started: [...running] });
  // The delay lets the message (and any 'declined' answers) leave before the channel closes.
  setTimeout(() => process.exit(3), 50);
}

/** The request's JPEG as a data: URL, the form the binding takes for in-memory images. */
function dataUrl(image: Uint8Array): string {
  return `data:image/jpeg;base64,${Buffer.from(image.buffer, image.byteOffset, image.byteLength).toString('base64')}`;
}

function sha256(image: Uint8Array): string {
  return createHash('sha256').update(image).digest('hex');
}

/** Test-only: crash on one specific image, to prove a poisoned input costs one job, not the fleet. */
function crashIfPoisoned(request: HostAnalyzeRequest): void {
  const poisoned = process.env.IMAGEFLEET_TEST_CRASH_ON_IMAGE_SHA256;
  if (poisoned && sha256(request.image) === poisoned) process.kill(process.pid, 'SIGKILL');
}

/** Test-only: fail on one specific image the way a binding error does (report `failed`, exit). */
function failsOnPurpose(request: HostAnalyzeRequest): boolean {
  const poisoned = process.env.IMAGEFLEET_TEST_FAIL_ON_IMAGE_SHA256;
  return poisoned !== undefined && sha256(request.image) === poisoned;
}

/** Test-only: report one out-of-memory failure while the marker file exists (it is removed). */
function outOfMemoryOnce(): boolean {
  const marker = process.env.IMAGEFLEET_TEST_OOM_ONCE_FILE;
  if (!marker) return false;
  try {
    rmSync(marker);
    return true;
  } catch {
    return false;
  }
}

/** Test-only: append the request id to this file when its completion starts (a busy signal). */
function reportStart(request: HostAnalyzeRequest): void {
  const file = process.env.IMAGEFLEET_TEST_STARTED_FILE;
  if (file) appendFileSync(file, `${request.id}\n`);
}

type Outcome = Omit<HostAnalyzeResult, 'id'>;

async function completeOnSlot(ctx: LlamaContextWrapper, options: LlamaCompletionOptions): Promise<Outcome> {
  const result = await (await ctx.parallel.completion(options)).promise;
  return {
    // `content` is the answer; `text` can carry whitespace or a code fence.
    text: result.content ?? result.text,
    // tokens_evaluated of a parallel result repeats tokens_predicted; the prompt is what the slot
    // reused from its cache plus what it decoded.
    promptTokens: result.timings.cache_n + result.timings.prompt_n,
    completionTokens: result.tokens_predicted,
    promptMs: result.timings.prompt_ms,
    generationMs: result.timings.predicted_ms,
    truncated: result.stopped_limit || result.context_full,
  };
}

async function completeAlone(ctx: LlamaContextWrapper, options: LlamaCompletionOptions, maxTokens: number): Promise<Outcome> {
  const result = await ctx.completion(options);
  return {
    text: result.content ?? result.text,
    // tokens_evaluated of a single completion is prompt + generated tokens.
    promptTokens: result.tokens_evaluated - result.tokens_predicted,
    completionTokens: result.tokens_predicted,
    promptMs: result.timings.prompt_ms,
    generationMs: result.timings.predicted_ms,
    truncated: result.truncated || result.tokens_predicted >= maxTokens || result.context_full,
  };
}

async function analyze(request: HostAnalyzeRequest): Promise<void> {
  if (failing) {
    send({ type: 'declined', id: request.id });
    return;
  }
  crashIfPoisoned(request);
  if (failsOnPurpose(request)) {
    failAndExit(request.id, 'the binding failed on this image (test hook)', false);
    return;
  }
  if (outOfMemoryOnce()) {
    failAndExit(request.id, 'ggml_backend_cuda_buffer_type_alloc_buffer: allocating 512.00 MiB on device 0: cudaMalloc failed: out of memory (test hook)', true);
    return;
  }
  if (!context) throw new Error('analyze before load');
  const options: LlamaCompletionOptions = {
    messages: [
      {
        role: 'user',
        content: [
          // The binding takes file paths and data: URLs, not bytes: the encoding happens here,
          // in the host, not on the worker's main thread.
          { type: 'image_url', image_url: { url: dataUrl(request.image) } },
          { type: 'text', text: request.prompt },
        ],
      },
    ],
    response_format: { type: 'json_schema', json_schema: { strict: true, schema: request.schema } },
    n_predict: request.maxTokens,
    seed: request.seed,
    temperature: 0.2,
  };
  try {
    running.add(request.id);
    reportStart(request);
    const outcome = parallel ? await completeOnSlot(context, options) : await completeAlone(context, options, request.maxTokens);
    running.delete(request.id);
    send({ type: 'result', result: { id: request.id, ...outcome } });
  } catch (error) {
    // After an error inside completion the binding's context stays busy: report, then exit so
    // the worker starts a fresh host.
    const message = (error as Error).message ?? String(error);
    failAndExit(request.id, message, OUT_OF_MEMORY.test(message), (error as Error).stack);
  }
}

process.on('message', (message: ParentMessage) => {
  switch (message.type) {
    case 'load':
      void load(message.options);
      break;
    case 'analyze':
      void analyze(message.request);
      break;
    case 'shutdown':
      void (context?.release() ?? Promise.resolve()).finally(() => process.exit(0));
      break;
  }
});
// The worker went away: nothing left to serve.
process.on('disconnect', () => process.exit(0));
