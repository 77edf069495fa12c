import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, ImagefleetError } from '@imagefleet/core';
import { EngineStartError, LlamaServerEngine, makeTinyModel, type LlamaServerEngineOptions, type TinyModelFiles } from '@imagefleet/engine';
import { prepareJpeg } from '@imagefleet/imaging';
import { compileSchema, taggingTask } from '@imagefleet/tasks';
import { syntheticPhoto } from '../helpers/images.js';
import { waitFor } from '../helpers/processes.js';
import { llamaServerBinary } from '../helpers/llama-server.js';

let dir: string;
let tiny: TinyModelFiles;
let bench: TinyModelFiles;
let binary: string;
const logger = createLogger('test-llama-server', 'silent');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-server-'));
  tiny = await makeTinyModel(join(dir, 'tiny'), { seed: 5 });
  bench = await makeTinyModel(join(dir, 'bench'), { seed: 5, size: 'bench' });
  binary = await llamaServerBinary();
});
after(() => rmSync(dir, { recursive: true, force: true }));

function serverEngine(files: TinyModelFiles, extra: Partial<LlamaServerEngineOptions> = {}): LlamaServerEngine {
  return new LlamaServerEngine({ binary, ...files, slots: 2, contextPerSlot: 2048, gpuLayers: 0, threads: 1, loadTimeoutMs: 60_000, restartBackoffMs: 100, logger, ...extra });
}

async function taggingInput(seed: number, deadlineMs = 60_000) {
  const image = await prepareJpeg(await syntheticPhoto(seed, 300, 200), { maxPixels: 1e8 }, taggingTask.budget);
  return { imageJpeg: image.jpeg, prompt: taggingTask.prompt({}), schema: taggingTask.schema({}), maxTokens: taggingTask.maxOutputTokens({}), seed, deadlineMs };
}

/** Resolves once llama-server reports a slot processing a request. */
async function untilProcessing(engine: LlamaServerEngine): Promise<void> {
  await waitFor(async () => {
    const slots = (await (await fetch(`${engine.url}/slots`)).json()) as { is_processing: boolean }[];
    return slots.some((slot) => slot.is_processing);
  }, 30_000, 'llama-server to process the request');
}

async function rejection(promise: Promise<unknown>): Promise<ImagefleetError> {
  const error = await promise.then(() => undefined, (thrown: unknown) => thrown);
  assert.ok(error instanceof ImagefleetError, `expected an ImagefleetError, got ${String(error)}`);
  return error;
}

describe('ENGINE=server: llama-server as the supervised engine', () => {
  test('answers schema-valid JSON with real token counts, and reports its KV-cache use', async () => {
    const engine = serverEngine(tiny);
    try {
      await engine.start();
      assert.ok(engine.ready);
      const validate = compileSchema(taggingTask.schema({}));
      const answers = await Promise.all([1, 2, 3].map(async (seed) => engine.analyze(await taggingInput(seed))));
      for (const answer of answers) {
        assert.ok(validate(JSON.parse(answer.text)), answer.text);
        assert.ok(answer.promptTokens > 100, `prompt tokens ${answer.promptTokens}`);
        assert.notEqual(answer.promptTokens, answer.completionTokens);
      }
      const stats = await engine.stats();
      assert.equal(typeof stats.kvCacheUsageRatio, 'number');
      assert.ok(stats.kvCacheUsageRatio! >= 0 && stats.kvCacheUsageRatio! <= 1);
    } finally {
      await engine.close();
    }
  });

  test('a server without the projector is refused at start with one line', async () => {
    const engine = serverEngine(tiny, { withoutProjector: true });
    try {
      await assert.rejects(engine.start(), (error: Error) => error instanceof EngineStartError && /reports no vision modality for model\.gguf/.test(error.message));
    } finally {
      await engine.close();
    }
  });

  test('a context per slot smaller than the tasks need is refused at start, naming the numbers', async () => {
    const engine = serverEngine(tiny, { contextPerSlot: 2048, extraArgs: ['--ctx-size', '1024'] });
    try {
      await assert.rejects(engine.start(), (error: Error) => error instanceof EngineStartError && /gives each slot 512 tokens of context; the tasks need 2048/.test(error.message));
    } finally {
      await engine.close();
    }
  });

  test('killed mid-inference: the request fails as engine_crashed, the server restarts and answers again', async () => {
    const engine = serverEngine(bench, { slots: 1 });
    try {
      await engine.start();
      const firstPid = engine.pid!;
      const inFlight = engine.analyze(await taggingInput(7));
      await untilProcessing(engine);
      process.kill(firstPid, 'SIGKILL');
      const error = await rejection(inFlight);
      assert.equal(error.code, 'engine_crashed');
      assert.equal(error.permanent, false);
      assert.equal(engine.ready, false, 'not ready while the server is down');
      const answer = await engine.analyze(await taggingInput(8));
      assert.ok(answer.completionTokens > 0);
      assert.equal(engine.restarts, 1);
      assert.notEqual(engine.pid, firstPid);
    } finally {
      await engine.close();
    }
  });

  test('a hanging server misses the deadline: engine_timeout, killed and restarted', async () => {
    const engine = serverEngine(tiny, { slots: 1 });
    try {
      await engine.start();
      const hungPid = engine.pid!;
      process.kill(hungPid, 'SIGSTOP');
      const error = await rejection(engine.analyze(await taggingInput(9, 1500)));
      assert.equal(error.code, 'engine_timeout');
      const answer = await engine.analyze(await taggingInput(10));
      assert.ok(answer.completionTokens > 0);
      assert.equal(engine.restarts, 1);
      assert.notEqual(engine.pid, hungPid);
    } finally {
      await engine.close();
    }
  });

  test('a binary that cannot start is one clear error, never a crash of this process', async () => {
    const engine = new LlamaServerEngine({ binary: join(dir, 'no-such-llama-server'), ...tiny, slots: 1, contextPerSlot: 1024, gpuLayers: 0, threads: 1, loadTimeoutMs: 10_000, restartBackoffMs: 100, logger });
    await assert.rejects(engine.start(), (error: Error) => error instanceof EngineStartError && /llama-server not found or not executable: .*no-such-llama-server/.test(error.message));
    await engine.close();
  });
});
