// The engine host: a child process that owns one loaded model. llama.cpp can abort the whole
// process on bad input, so it never runs inside the worker; this process may die, the worker not.
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { loadModel, type LlamaCompletionOptions, type LlamaContextWrapper } from '@fugood/llama.node';
import type { HostAnalyzeRequest, HostLoadOptions, HostMessage, ParentMessage } from './protocol.js';

let context: LlamaContextWrapper | undefined;
let parallel = false;

function send(message: HostMessage): void {
  process.send?.(message);
}

const OUT_OF_MEMORY = /out of memory|failed to allocate|cudaMalloc|ErrorOutOfDeviceMemory|OOM/i;

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
    send({ type: 'load_failed', message: (error as Error).message });
  }
}

/** Test-only: crash on one specific image, to prove a poisoned input costs one job, not the fleet. */
function crashIfPoisoned(request: HostAnalyzeRequest): void {
  const poisoned = process.env.IMAGEFLEET_TEST_CRASH_ON_IMAGE_SHA256;
  if (!poisoned) return;
  const digest = createHash('sha256').update(Buffer.from(request.imageBase64, 'base64')).digest('hex');
  if (digest === poisoned) process.kill(process.pid, 'SIGKILL');
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

async function analyze(request: HostAnalyzeRequest): Promise<void> {
  crashIfPoisoned(request);
  if (outOfMemoryOnce()) {
    send({ type: 'failed', id: request.id, message: 'ggml_backend_cuda_buffer_type_alloc_buffer: allocating 512.00 MiB on device 0: cudaMalloc failed: out of memory (test hook)', outOfMemory: true });
    setTimeout(() => process.exit(3), 50);
    return;
  }
  if (!context) throw new Error('analyze before load');
  const options: LlamaCompletionOptions = {
    messages: [
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${request.imageBase64}` } },
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
    // Parallel and single-slot completions report the same facts under slightly different names.
    const result = parallel ? await (await context.parallel.completion(options)).promise : await context.completion(options);
    const hitLimit = 'stopped_limit' in result ? result.stopped_limit : result.truncated || result.tokens_predicted >= request.maxTokens;
    send({
      type: 'result',
      result: {
        id: request.id,
        // `content` is the answer; `text` can carry whitespace or a code fence.
        text: result.content ?? result.text,
        promptTokens: result.tokens_evaluated,
        completionTokens: result.tokens_predicted,
        promptMs: result.timings?.prompt_ms ?? 0,
        generationMs: result.timings?.predicted_ms ?? 0,
        truncated: hitLimit || result.context_full,
      },
    });
  } catch (error) {
    // After an error inside completion the binding's context stays busy: report, then exit so
    // the worker starts a fresh host.
    const message = (error as Error).message ?? String(error);
    send({ type: 'failed', id: request.id, message, outOfMemory: OUT_OF_MEMORY.test(message) });
    setTimeout(() => process.exit(3), 50);
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
