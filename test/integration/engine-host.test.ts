import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, ImagefleetError } from '@imagefleet/core';
import { EngineHost, ModelFileError, makeTinyModel, validateModelPair, type TinyModelFiles } from '@imagefleet/engine';
import { encodeJpeg, prepareImage } from '@imagefleet/imaging';
import { compileSchema, taggingTask } from '@imagefleet/tasks';
import { syntheticPhoto } from '../helpers/images.js';
import { waitFor } from '../helpers/processes.js';

let dir: string;
let tiny: TinyModelFiles;
let bench: TinyModelFiles;
const logger = createLogger('test-engine', 'silent');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-engine-'));
  tiny = await makeTinyModel(join(dir, 'tiny'), { seed: 3 });
  bench = await makeTinyModel(join(dir, 'bench'), { seed: 3, size: 'bench' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('model files are checked before any load, with one clear sentence per problem', async () => {
  const text = join(dir, 'notes.gguf');
  writeFileSync(text, 'this is not a model');
  const truncated = join(dir, 'truncated.gguf');
  writeFileSync(truncated, Buffer.from('GGUF\x03\x00\x00\x00'));
  const cases: [string, string, RegExp][] = [
    [join(dir, 'missing.gguf'), tiny.mmproj, /model file not found: .*missing\.gguf/],
    [text, tiny.mmproj, /model file is not a GGUF file \(bad magic bytes\)/],
    [truncated, tiny.mmproj, /model file is not a readable GGUF file \(the header has no metadata; truncated\?\)/],
    [tiny.mmproj, tiny.model, /model file is a vision projector \(architecture clip\), not a text model; did you swap MODEL_PATH and MMPROJ_PATH\?/],
    [tiny.model, tiny.model, /projector \(mmproj\) file has architecture "llama", expected "clip"/],
    [tiny.model, bench.mmproj, /projector output size 512 differs from the text model's embedding size 64/],
  ];
  for (const [model, mmproj, message] of cases) {
    await assert.rejects(validateModelPair(model, mmproj), (error: Error) => error instanceof ModelFileError && message.test(error.message), `${model} + ${mmproj}`);
  }
  const pair = await validateModelPair(tiny.model, tiny.mmproj);
  assert.deepEqual([pair.model.architecture, pair.model.embedding, pair.projector.projectionDim, pair.projector.projectorType], ['llama', 64, 64, 'mlp']);
});

function cpuHost(files: TinyModelFiles, slots: number, contextPerSlot: number): EngineHost {
  return new EngineHost({ ...files, slots, contextPerSlot, gpuLayers: 0, threads: 2, libVariant: 'default', loadTimeoutMs: 60_000, restartBackoffMs: 100, logger });
}

async function taggingInput(seed: number) {
  const image = await prepareImage(await syntheticPhoto(seed, 300, 200), { maxPixels: 1e8 }, taggingTask.budget);
  return { imageJpeg: await encodeJpeg(image), prompt: taggingTask.prompt({}), schema: taggingTask.schema({}), maxTokens: taggingTask.maxOutputTokens({}) };
}

test('the host answers with schema-valid JSON, survives being killed mid-inference, and restarts', async () => {
  const host = cpuHost(bench, 1, 2048);
  try {
    await host.start();
    assert.ok(host.ready);
    const validate = compileSchema(taggingTask.schema({}));
    const input = await taggingInput(1);
    const first = await host.analyze({ ...input, seed: 1, deadlineMs: 60_000 });
    assert.ok(first.promptTokens > 0 && first.completionTokens > 0);
    if (!first.truncated) assert.ok(validate(JSON.parse(first.text)), first.text);

    const pid = host.pid!;
    const inFlight = host.analyze({ ...input, seed: 2, deadlineMs: 60_000 });
    setTimeout(() => process.kill(pid, 'SIGKILL'), 150);
    await assert.rejects(inFlight, (error: ImagefleetError) => error.code === 'engine_crashed' && /SIGKILL/.test(error.message));
    await waitFor(() => host.ready && host.pid !== pid, 30_000, 'the host to restart');
    assert.equal(host.restarts, 1);
    const again = await host.analyze({ ...input, seed: 3, deadlineMs: 60_000 });
    assert.ok(again.completionTokens > 0);
  } finally {
    await host.close();
  }
});

test('a request past its deadline restarts the host and fails with engine_timeout', async () => {
  const host = cpuHost(bench, 1, 2048);
  try {
    await host.start();
    const pid = host.pid;
    await assert.rejects(host.analyze({ ...(await taggingInput(4)), seed: 1, deadlineMs: 20 }), (error: ImagefleetError) => error.code === 'engine_timeout');
    await waitFor(() => host.ready && host.pid !== pid, 30_000, 'the host to restart');
  } finally {
    await host.close();
  }
});

test('parallel slots serve several requests at once on one loaded model', async () => {
  const host = cpuHost(tiny, 3, 1024);
  try {
    await host.start();
    const validate = compileSchema(taggingTask.schema({}));
    const results = await Promise.all([5, 6, 7, 8, 9, 10].map(async (seed) => host.analyze({ ...(await taggingInput(seed)), seed, deadlineMs: 60_000 })));
    const valid = results.filter((result) => !result.truncated && validate(JSON.parse(result.text)));
    assert.ok(valid.length >= 4, `${valid.length}/6 valid`);
  } finally {
    await host.close();
  }
});

test('a garbage file named like a model never reaches the binding', async () => {
  const garbage = join(dir, 'garbage.gguf');
  writeFileSync(garbage, Buffer.alloc(64, 0x41));
  await assert.rejects(validateModelPair(garbage, tiny.mmproj), ModelFileError);
  // A download cut off halfway: the header is whole, the tensors are not.
  const cut = join(dir, 'cut.gguf');
  copyFileSync(bench.model, cut);
  const { truncateSync } = await import('node:fs');
  truncateSync(cut, 20_000_000);
  await assert.rejects(validateModelPair(cut, bench.mmproj), /model file is truncated: its tensors need \d+ bytes but the file has 20000000/);
});
