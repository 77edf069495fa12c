import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, ImagefleetError } from '@imagefleet/core';
import { EngineHostError, EngineSupervisor, ModelFileError, readTextModel, type AnalyzeInput, type EngineAnswer, type VisionEngine } from '@imagefleet/engine';

/**
 * Errors keep what caused them (issue 9, item 4): logged under `err`, pino writes the causes'
 * messages and stacks, so wrapping an error must not drop the original.
 */

test('an error from the engine host keeps the host\'s own stack', () => {
  const hostStack = 'Error: ggml_abort: tensor shape mismatch\n    at completion (host-main.js:150:11)';
  const error = new ImagefleetError('engine_crashed', 'The engine failed on this input: ggml_abort: tensor shape mismatch', {
    cause: new EngineHostError('ggml_abort: tensor shape mismatch', hostStack),
  });
  const cause = error.cause as EngineHostError;
  assert.equal(cause.name, 'EngineHostError');
  assert.match(cause.stack ?? '', /at completion \(host-main\.js:150:11\)\n\s+\(in the engine host process\)$/);
  // Without a stack from the host, the error still has one of its own.
  assert.match(new EngineHostError('no stack sent', undefined).stack ?? '', /EngineHostError: no stack sent/);
});

test('a GGUF file the reader rejects names the reader\'s error as its cause', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imagefleet-causes-'));
  try {
    const path = join(dir, 'broken.gguf');
    writeFileSync(path, Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(64, 0xff)]));
    const error = await readTextModel(path).then(() => undefined, (thrown: unknown) => thrown);
    assert.ok(error instanceof ModelFileError, String(error));
    assert.match(error.message, /is not a readable GGUF file|could not be analysed/);
    assert.ok(error.cause instanceof Error, 'the reader\'s error is kept as the cause');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('engine_crashed_repeatedly keeps the last crash as its cause', async () => {
  const crash = new ImagefleetError('engine_crashed', 'llama-server died (SIGSEGV) while this input was being analysed');
  const engine: VisionEngine = {
    kind: 'server',
    ready: true,
    slots: 1,
    restarts: 0,
    modelName: 'scripted.gguf',
    analyze: async (_input: AnalyzeInput): Promise<EngineAnswer> => {
      throw crash;
    },
    close: async () => undefined,
  };
  const supervisor = new EngineSupervisor(engine, { plannedSlots: 1, maxCrashes: 1, probationMs: 10, logger: createLogger('test', 'silent') });
  const input: AnalyzeInput = { imageJpeg: Buffer.alloc(0), prompt: '', schema: {}, maxTokens: 8, seed: 1, deadlineMs: 1000 };
  const error = await supervisor.analyze(input, { previous: 0, save: async () => undefined }).then(() => undefined, (thrown: unknown) => thrown);
  await supervisor.close();
  assert.ok(error instanceof ImagefleetError);
  assert.equal(error.code, 'engine_crashed_repeatedly');
  assert.equal(error.cause, crash);
});
