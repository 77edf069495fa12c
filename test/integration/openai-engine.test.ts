import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, ImagefleetError, type ResultLine } from '@imagefleet/core';
import { EngineStartError, OpenAiEngine, makeTinyModel, type AnalyzeInput, type TinyModelFiles } from '@imagefleet/engine';
import { prepareJpeg, sniffImageFormat } from '@imagefleet/imaging';
import { StoreRegistry } from '@imagefleet/storage';
import { customTask, taggingTask, type ModelTask, type ModelTaskResult } from '@imagefleet/tasks';
import { startWorker, textTokensPerSlot, type RunningWorker } from '@imagefleet/worker';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer, waitForBatchEnd, type TestProducer } from '../helpers/producer.js';
import { syntheticPhoto } from '../helpers/images.js';
import { llamaServerBinary } from '../helpers/llama-server.js';
import { freePort, spawnLogged, stopProcess, waitFor } from '../helpers/processes.js';

/**
 * ENGINE=openai. The request contract (data URL, schema as response_format, slots, retries) is
 * checked against a stand-in server that records what it is sent; what a llama-server says and
 * does (no projector, a small context, going away and coming back) against the real one.
 */
interface Recorded {
  body: { messages: { content: { type: string; image_url?: { url: string }; text?: string }[] }[]; response_format: { type: string; json_schema: { schema: unknown; strict: boolean } }; max_tokens: number; seed: number };
  authorization: string | undefined;
}

let services: TestServices;
let photos: StoreRegistry;
let server: Server;
let baseUrl: string;
let dir: string;
let tiny: TinyModelFiles;
let binary: string;
const logger = createLogger('test-openai-engine', 'silent');
const keys = Array.from({ length: 9 }, (_, i) => `shop/${i}.jpg`);
const requests: Recorded[] = [];
let inFlight = 0;
let mostInFlight = 0;
let failNext500 = true;
/** Requests the stand-in refused the way a llama-server without --mmproj does. */
let imageRefusals = 0;
let sawThreeAtOnce!: () => void;
const threeAtOnce = new Promise<void>((resolve) => (sawThreeAtOnce = resolve));

const answer = JSON.stringify({ category: 'footwear', title: 'Trail shoe', attributes: { colour: 'orange' }, tags: ['trail', 'running'] });
/** What llama-server (de3ff81) answers an image request when started without --mmproj. */
const noImagesBody = { error: { code: 500, message: 'image input is not supported - hint: if this is unexpected, you may need to provide the mmproj', type: 'server_error' } };
/** A custom schema whose answer is forced (by the grammar) to be longer than any small context: 12 x 250 = 3,000 characters. */
const longAnswerSchema = { type: 'object', properties: { text: { type: 'array', items: { type: 'string', pattern: '^(abcdefghij){25}$' }, minItems: 12, maxItems: 12 } }, required: ['text'] };

/** Resolves after ms without holding the process open: the deadline of a wait, never the wait itself. */
function deadline(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
  photos = new StoreRegistry(services.s3);
  await Promise.all(keys.map(async (key, i) => photos.open('s3://photos').put(key, await syntheticPhoto(900 + i, 320, 240))));
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-openai-'));
  tiny = await makeTinyModel(join(dir, 'tiny'), { seed: 7 });
  binary = await llamaServerBinary();
  server = createServer((request, response) => {
    const json = (status: number, value: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(value));
    };
    if (request.method === 'GET' && request.url === '/v1/models') return json(200, { data: [{ id: 'fake-vlm' }] });
    if (request.method === 'GET' && request.url === '/props') return json(200, { total_slots: 3 });
    if (request.method !== 'POST' || request.url !== '/v1/chat/completions') return json(404, { error: 'not found' });
    let raw = '';
    request.on('data', (chunk) => (raw += chunk));
    request.on('end', () => {
      const body = JSON.parse(raw) as Recorded['body'];
      const text = body.messages[0]!.content.find((part) => part.type === 'text')!.text!;
      if (text.includes('NO_IMAGES')) {
        imageRefusals += 1;
        return json(500, noImagesBody);
      }
      requests.push({ body, authorization: request.headers.authorization });
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      if (inFlight === 3) sawThreeAtOnce();
      // Answers wait until the worker has had 3 requests in flight at once (10 s at most, then the
      // wait is over for all), so the count the test asserts is the worker's concurrency, not an
      // accident of timing.
      void Promise.race([threeAtOnce, deadline(10_000).then(sawThreeAtOnce)]).then(() =>
        setTimeout(() => {
          inFlight -= 1;
          if (failNext500) {
            failNext500 = false;
            return json(500, { error: 'temporarily overloaded' });
          }
          const truncate = text.includes('TRUNCATE');
          json(200, {
            model: 'fake-vlm',
            choices: [{ message: { content: truncate ? answer.slice(0, 20) : answer }, finish_reason: truncate ? 'length' : 'stop' }],
            usage: { prompt_tokens: 321, completion_tokens: truncate ? body.max_tokens : 40 },
            timings: { prompt_ms: 12.5, predicted_ms: 30.25 },
          });
        }, 30),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

after(async () => {
  server?.close();
  photos?.close();
  await services?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface RunningLlamaServer {
  /** http://127.0.0.1:port/v1, what OPENAI_BASE_URL gets. */
  baseUrl: string;
  root: string;
  stop(): Promise<void>;
}

/**
 * The real llama-server on the tiny model, one slot, ready when /health answers 200. One thread:
 * with two on this two-core machine, generation stalls at ~4 tokens/s whenever another process
 * takes a core (the threads wait on each other).
 */
async function startLlamaServer(options: { context: number; projector?: boolean; port?: number; metrics?: boolean }): Promise<RunningLlamaServer> {
  const port = options.port ?? (await freePort());
  const args = ['-m', tiny.model, ...(options.projector === false ? [] : ['--mmproj', tiny.mmproj]), '-np', '1', '-c', String(options.context)];
  args.push('--host', '127.0.0.1', '--port', String(port), '--no-webui', '-t', '1', ...(options.metrics ? ['--metrics'] : []));
  const child = spawnLogged(binary, args);
  const root = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`llama-server exited before it was ready: ${child.output()}`);
      const response = await fetch(`${root}/health`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      return response?.status === 200;
    }, 60_000, `llama-server on port ${port}`);
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  return { baseUrl: `${root}/v1`, root, stop: async () => void (await stopProcess(child)) };
}

/** What llama-server says about its slots: context per slot (the figure the start check reads). */
async function contextPerSlotOf(llama: RunningLlamaServer): Promise<number> {
  const props = (await (await fetch(`${llama.root}/props`)).json()) as { default_generation_settings: { n_ctx: number } };
  return props.default_generation_settings.n_ctx;
}

/** A counter from llama-server's /metrics (started with --metrics). */
async function serverMetric(llama: RunningLlamaServer, name: string): Promise<number> {
  const text = await (await fetch(`${llama.root}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`llamacpp:${name} `));
  assert.ok(line, `llama-server /metrics has no llamacpp:${name}`);
  return Number(line.split(' ')[1]);
}

async function engineInput(task: ModelTask, options: Record<string, unknown>, seed = 1): Promise<AnalyzeInput> {
  const image = await prepareJpeg(await syntheticPhoto(seed, 640, 480), { maxPixels: 1e8 }, task.budget);
  return { imageJpeg: image.jpeg, prompt: task.prompt(options), schema: task.schema(options), maxTokens: task.maxOutputTokens(options), seed, deadlineMs: 120_000 };
}

function openAiEngine(url: string, healthIntervalMs = 60_000): OpenAiEngine {
  return new OpenAiEngine({ baseUrl: url, slots: 0, contextPerSlot: textTokensPerSlot(), healthIntervalMs, logger });
}

async function rejection<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  const error = await promise.then(() => undefined, (thrown: unknown) => thrown);
  assert.ok(error instanceof type, `expected a ${type.name}, got ${String(error)}`);
  return error;
}

/** startWorker's rejection; a worker that starts anyway is stopped before the assertion fails. */
async function workerStartRejection(env: Record<string, string>): Promise<EngineStartError> {
  const started = startWorker(testConfig(env), createLogger('test-worker', 'silent'));
  return rejection(started.then(async (worker) => worker.stop()), EngineStartError);
}

/** A batch of one photo through producer and worker; its one manifest line. */
async function oneJobBatch(producer: TestProducer, task: string, options: Record<string, unknown>, timeoutMs: number): Promise<ResultLine> {
  const created = await producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task, options, source: { keys: [keys[0]], bucket: 'photos' } } });
  assert.equal(created.statusCode, 202, created.body);
  const status = await waitForBatchEnd(producer, created.json().batchId, timeoutMs);
  assert.deepEqual([status.total, status.completed, status.failed], [1, 0, 1]);
  const lines = (await producer.app.inject({ url: `/v1/batches/${created.json().batchId}/results` })).body.trim().split('\n');
  assert.equal(lines.length, 1);
  return JSON.parse(lines[0]!) as ResultLine;
}

test('ENGINE=openai: image as a data URL, the task schema as response_format, slots from the server, retries', async () => {
  const env = testEnv(services, { ENGINE: 'openai', OPENAI_BASE_URL: baseUrl, OPENAI_API_KEY: 'sekret', WORKER_CONCURRENCY: '8' });
  const config = testConfig(env);
  const producer = await startTestProducer(config);
  const worker = await startWorker(config, createLogger('test-worker', 'silent'));
  try {
    const created = await producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'tagging', source: { keys, bucket: 'photos' } } });
    const status = await waitForBatchEnd(producer, created.json().batchId, 60_000);
    assert.deepEqual([status.total, status.completed, status.failed], [9, 9, 0]);

    // The worker holds 8 jobs and the server has 3 slots: exactly 3 requests at once, never more.
    assert.equal(mostInFlight, 3, `server saw at most ${mostInFlight} requests at once; it has 3 slots and the worker holds 8 jobs`);
    assert.ok(requests.length >= 10, 'the 500 must have been retried');
    for (const { body, authorization } of requests) {
      assert.equal(authorization, 'Bearer sekret');
      const image = body.messages[0]!.content.find((part) => part.type === 'image_url')!.image_url!.url;
      assert.match(image, /^data:image\/jpeg;base64,/);
      assert.deepEqual(sniffImageFormat(Buffer.from(image.split(',')[1]!, 'base64')), { kind: 'image', format: 'jpeg' });
      assert.equal(body.response_format.type, 'json_schema');
      assert.equal(body.response_format.json_schema.strict, true);
      assert.deepEqual(body.response_format.json_schema.schema, taggingTask.schema({}));
      assert.equal(body.max_tokens, taggingTask.maxOutputTokens({}));
      assert.equal(typeof body.seed, 'number');
    }
    const lines = (await (await producer.app.inject({ url: `/v1/batches/${created.json().batchId}/results` })).body).trim().split('\n').map((line) => JSON.parse(line) as ResultLine);
    const result = lines[0]!.result as ModelTaskResult;
    assert.equal(result.model, 'fake-vlm');
    assert.deepEqual(result.tokens, { prompt: 321, completion: 40 });
    assert.deepEqual(result.output, JSON.parse(answer));

    // A custom task whose answers are always cut off at its own limit: one retry with another seed, then invalid_output with the raw text.
    const before = requests.length;
    const failed = await oneJobBatch(producer, 'custom', { prompt: 'TRUNCATE please', schema: { type: 'object', properties: { n: { type: 'integer' } } } }, 60_000);
    assert.equal(failed.error?.code, 'invalid_output');
    assert.match(failed.error?.message ?? '', /output truncated at \d+ tokens \(limit 512\)/);
    assert.equal(failed.error?.raw, answer.slice(0, 20));
    const seeds = requests.slice(before).map((request) => request.body.seed);
    assert.equal(seeds.length, 2);
    assert.notEqual(seeds[0], seeds[1]);
    assert.deepEqual(failed.error?.seeds, seeds, 'the failure names the seeds it tried, so the answers can be reproduced');
  } finally {
    await worker.stop();
    await producer.close();
    await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
  }
});

test('ENGINE=openai: a server answering 500 "image input is not supported" fails the job once with engine_rejected, no retries', async () => {
  // A real llama-server without --mmproj is refused at start (below), so the fleet meets this answer from the stand-in.
  const config = testConfig(testEnv(services, { ENGINE: 'openai', OPENAI_BASE_URL: baseUrl }));
  const producer = await startTestProducer(config);
  const worker = await startWorker(config, createLogger('test-worker', 'silent'));
  try {
    const line = await oneJobBatch(producer, 'custom', { prompt: 'NO_IMAGES please', schema: { type: 'object', properties: { n: { type: 'integer' } } } }, 60_000);
    assert.equal(line.error?.code, 'engine_rejected', line.error?.message);
    assert.equal(imageRefusals, 1, 'a permanent refusal must not be retried');
  } finally {
    await worker.stop();
    await producer.close();
    await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
  }
});

describe('ENGINE=openai against a real llama-server', () => {
  test('a worker refuses a llama-server without --mmproj at start, naming the missing vision modality in one line', async () => {
    const llama = await startLlamaServer({ context: 4096, projector: false });
    const env = testEnv(services, { ENGINE: 'openai', OPENAI_BASE_URL: llama.baseUrl });
    try {
      const error = await workerStartRejection(env);
      assert.match(error.message, /reports no vision modality/);
      assert.ok(error.message.includes(llama.baseUrl), error.message);
      assert.equal(error.message.includes('\n'), false, 'one line');
    } finally {
      await llama.stop();
      await deleteRedisPrefix(services.redisUrl, env.QUEUE_PREFIX!);
    }
  });

  test('an image sent to a llama-server without --mmproj is engine_rejected, a permanent code', async () => {
    const llama = await startLlamaServer({ context: 4096, projector: false });
    const engine = openAiEngine(llama.baseUrl);
    try {
      // Not started: the start check would refuse this server before any request.
      const error = await rejection(engine.analyze(await engineInput(taggingTask, {})), ImagefleetError);
      assert.equal(error.code, 'engine_rejected');
      assert.equal(error.permanent, true);
      assert.match(error.message, /image input is not supported/);
    } finally {
      await engine.close();
      await llama.stop();
    }
  });

  test('a worker refuses a llama-server whose context per slot cannot hold the tasks, naming both numbers', async () => {
    const llama = await startLlamaServer({ context: 512 });
    const env = testEnv(services, { ENGINE: 'openai', OPENAI_BASE_URL: llama.baseUrl });
    try {
      const perSlot = await contextPerSlotOf(llama);
      const needed = textTokensPerSlot();
      assert.equal(perSlot, 512);
      assert.ok(needed > perSlot, `the tasks need ${needed} tokens`);
      const error = await workerStartRejection(env);
      assert.ok(error.message.includes(`${perSlot} tokens`), error.message);
      assert.ok(error.message.includes(`need ${needed}`), error.message);
      assert.equal(error.message.includes('\n'), false, 'one line');
    } finally {
      await llama.stop();
      await deleteRedisPrefix(services.redisUrl, env.QUEUE_PREFIX!);
    }
  });

  test('a context that passes the start check but cuts an answer short is engine_context_too_small with the numbers, not retried', async () => {
    // Just above the text the tasks need, so the start check passes; far below a 3,000-character answer.
    const llama = await startLlamaServer({ context: Math.ceil((textTokensPerSlot() + 1) / 256) * 256, metrics: true });
    const engine = openAiEngine(llama.baseUrl);
    const env = testEnv(services, { ENGINE: 'openai', OPENAI_BASE_URL: llama.baseUrl });
    const config = testConfig(env);
    let producer: TestProducer | undefined;
    let worker: RunningWorker | undefined;
    try {
      const perSlot = await contextPerSlotOf(llama);
      assert.ok(perSlot >= textTokensPerSlot(), `${perSlot}-token slots must pass the start check`);
      await engine.start();
      assert.equal(engine.ready, true);

      // The answer is cut off by the server's context, long before the task's 4096-token limit.
      const long = { prompt: 'Spell the alphabet.', schema: longAnswerSchema, maxTokens: 4096 };
      const cut = await rejection(engine.analyze(await engineInput(customTask, long)), ImagefleetError);
      assert.equal(cut.code, 'engine_context_too_small', cut.message);
      assert.equal(cut.permanent, true);
      const { promptTokens, completionTokens, maxTokens, contextPerSlot } = cut.detail as Record<string, number>;
      assert.equal(promptTokens! + completionTokens!, perSlot);
      assert.deepEqual([maxTokens, contextPerSlot], [4096, perSlot]);
      for (const figure of [promptTokens, completionTokens, perSlot, 4096]) assert.ok(cut.message.includes(String(figure)), `${figure} in: ${cut.message}`);

      // A prompt (with its image) that does not fit the slot at all: llama-server answers 400, the same code.
      const wordy = { prompt: 'word '.repeat(600), schema: { type: 'object', properties: { n: { type: 'integer' } } }, maxTokens: 16 };
      const overflow = await rejection(engine.analyze(await engineInput(customTask, wordy)), ImagefleetError);
      assert.equal(overflow.code, 'engine_context_too_small', overflow.message);
      assert.ok((overflow.detail!.promptTokens as number) > perSlot, JSON.stringify(overflow.detail));
      assert.ok(overflow.message.includes(`${perSlot}-token context per slot`), overflow.message);

      // Through the fleet: the worker starts against this server and the job fails at once.
      producer = await startTestProducer(config);
      worker = await startWorker(config, createLogger('test-worker', 'silent'));
      const predictedBefore = await serverMetric(llama, 'tokens_predicted_total');
      const line = await oneJobBatch(producer, 'custom', long, 120_000);
      assert.equal(line.error?.code, 'engine_context_too_small', line.error?.message);
      assert.equal((line.error!.promptTokens as number) + (line.error!.completionTokens as number), perSlot);
      assert.equal(line.error!.contextPerSlot, perSlot);
      assert.equal(line.error!.maxTokens, 4096);
      // One generation only: a retry (or the invalid_output retry with another seed) would generate again.
      assert.equal((await serverMetric(llama, 'tokens_predicted_total')) - predictedBefore, line.error!.completionTokens);
    } finally {
      await worker?.stop();
      await producer?.close();
      await engine.close();
      await llama.stop();
      await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
    }
  });

  test('health: ready while llama-server answers, not ready while it is away, ready again when it is back on the same port', async () => {
    const port = await freePort();
    let llama = await startLlamaServer({ context: 2048, port });
    const engine = openAiEngine(llama.baseUrl, 100);
    try {
      await engine.start();
      assert.equal(engine.ready, true);
      await llama.stop();
      await waitFor(() => !engine.ready, 10_000, 'the engine to notice the server is gone');
      llama = await startLlamaServer({ context: 2048, port });
      await waitFor(() => engine.ready, 10_000, 'the engine to notice the server is back');
    } finally {
      await engine.close();
      await llama.stop();
    }
  });
});
