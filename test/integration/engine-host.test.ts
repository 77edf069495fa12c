import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, ImagefleetError } from '@imagefleet/core';
import { EngineHost, ModelFileError, makeTinyModel, validateModelPair, type EngineAnswer, type TinyModelFiles } from '@imagefleet/engine';
import { prepareJpeg } from '@imagefleet/imaging';
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

function cpuHost(files: TinyModelFiles, slots: number, contextPerSlot: number, env?: NodeJS.ProcessEnv): EngineHost {
  return new EngineHost({ ...files, slots, contextPerSlot, gpuLayers: 0, threads: 2, libVariant: 'default', loadTimeoutMs: 60_000, restartBackoffMs: 100, logger, env });
}

/** Lines of the file the host appends a request id to when it starts a completion. */
function startedLines(file: string): number {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}

/** Whether a child process is gone: exited and not reaped yet (zombie), or reaped. Linux /proc. */
function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/**
 * Waits for a condition WITHOUT yielding to the event loop, with a deadline. Used to reach the
 * moment when a child has died but this process has not yet seen its exit (no 'exit', no
 * 'disconnect' processed): the window in which a send hits a closed channel.
 */
function blockUntil(check: () => boolean, timeoutMs: number, what: string): void {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

/** Counts errors that escape to the process (an unhandled ChildProcess 'error' lands here). */
function watchEscapes(): { escaped: unknown[]; stop(): void } {
  const escaped: unknown[] = [];
  const onError = (error: unknown) => escaped.push(error);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    escaped,
    stop() {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}

async function taggingInput(seed: number) {
  const image = await prepareJpeg(await syntheticPhoto(seed, 300, 200), { maxPixels: 1e8 }, taggingTask.budget);
  return { imageJpeg: image.jpeg, prompt: taggingTask.prompt({}), schema: taggingTask.schema({}), maxTokens: taggingTask.maxOutputTokens({}) };
}

test('the host answers with schema-valid JSON, survives being killed mid-inference, and restarts', async () => {
  const started = join(dir, 'started-kill.log');
  const host = cpuHost(bench, 1, 2048, { IMAGEFLEET_TEST_STARTED_FILE: started });
  try {
    await host.start();
    assert.ok(host.ready);
    const validate = compileSchema(taggingTask.schema({}));
    const input = await taggingInput(1);
    const first = await host.analyze({ ...input, seed: 1, deadlineMs: 60_000 });
    assert.ok(first.promptTokens > 0 && first.completionTokens > 0);
    assert.equal(first.truncated, false, first.text);
    assert.ok(validate(JSON.parse(first.text)), first.text);
    assert.equal(startedLines(started), 1);

    const pid = host.pid!;
    const inFlight = host.analyze({ ...input, seed: 2, deadlineMs: 60_000 });
    // Kill it once the host has handed the second request to the model (a bench-size completion
    // takes seconds here, so the kill lands during inference).
    await waitFor(() => startedLines(started) === 2, 30_000, 'the second request to start in the host');
    process.kill(pid, 'SIGKILL');
    await assert.rejects(inFlight, (error: ImagefleetError) => error.code === 'engine_crashed' && /SIGKILL/.test(error.message));
    await waitFor(() => host.ready && host.pid !== pid, 30_000, 'the host to restart');
    assert.equal(host.restarts, 1);
    const again = await host.analyze({ ...input, seed: 3, deadlineMs: 60_000 });
    assert.ok(again.completionTokens > 0);
  } finally {
    await host.close();
  }
});

test('a request that fails in the host costs only its own job: requests sent while the host exits go to the restarted host', async () => {
  const poison = await taggingInput(20);
  const digest = createHash('sha256').update(poison.imageJpeg).digest('hex');
  const host = cpuHost(tiny, 2, 1024, { IMAGEFLEET_TEST_FAIL_ON_IMAGE_SHA256: digest });
  const watch = watchEscapes();
  try {
    await host.start();
    const pid = host.pid!;
    const inputs = await Promise.all([21, 22, 23, 24, 25, 26].map((seed) => taggingInput(seed)));
    const innocents: Promise<EngineAnswer>[] = [];
    const analyzeInnocent = (index: number) => innocents.push(host.analyze({ ...inputs[index]!, seed: 21 + index, deadlineMs: 60_000 }));
    const poisoned = host.analyze({ ...poison, seed: 20, deadlineMs: 60_000 }).catch(async (error: unknown) => {
      // The host has answered `failed` and exits 50 ms later. Two requests come while it is still
      // alive (they must not be handed to it: it would take them down with it), two once it is
      // dead but before this process has seen it exit (a send then would hit a closed channel).
      analyzeInnocent(2);
      analyzeInnocent(3);
      await new Promise((resolve) => setImmediate(resolve));
      blockUntil(() => processGone(pid), 10_000, 'the failed host to exit');
      analyzeInnocent(4);
      analyzeInnocent(5);
      throw error;
    });
    // Two requests right behind the poisoned one, on the wire while its failure comes back: the
    // host reaches them after it failed and must not start them.
    analyzeInnocent(0);
    analyzeInnocent(1);
    const [failed] = await Promise.allSettled([poisoned]);
    assert.equal(innocents.length, 6);
    const answered = await Promise.allSettled(innocents);
    assert.equal(failed!.status, 'rejected');
    const reason = (failed as PromiseRejectedResult).reason as ImagefleetError;
    assert.equal(reason.code, 'engine_crashed');
    // The host's own report; only if this process saw the exit first would it name the exit.
    assert.match(reason.message, /test hook|exit 3/);
    assert.deepEqual(
      answered.map((outcome) => outcome.status),
      Array(6).fill('fulfilled'),
      answered.map((outcome) => (outcome.status === 'rejected' ? String(outcome.reason) : 'ok')).join('; '),
    );
    for (const outcome of answered) assert.ok((outcome as PromiseFulfilledResult<EngineAnswer>).value.completionTokens > 0);
    assert.equal(host.restarts, 1);
    assert.notEqual(host.pid, pid);
    assert.deepEqual(watch.escaped, []);
  } finally {
    watch.stop();
    await host.close();
  }
});

test('an out-of-memory failure charges nobody: the request in flight with it fails as out of memory, the next one goes to the restarted host', async () => {
  const started = join(dir, 'started-oom.log');
  const marker = join(dir, 'oom-marker');
  const host = cpuHost(bench, 2, 2048, { IMAGEFLEET_TEST_STARTED_FILE: started, IMAGEFLEET_TEST_OOM_ONCE_FILE: marker });
  try {
    await host.start();
    const pid = host.pid!;
    const input = await taggingInput(27);
    const inFlight = host.analyze({ ...input, seed: 1, deadlineMs: 120_000 });
    await waitFor(() => startedLines(started) === 1, 30_000, 'the first request to start in the host');
    // A bench-size completion takes seconds here: the first request is still running when the
    // second one hits the (simulated) out-of-memory error, and a third is sent right behind it.
    writeFileSync(marker, '');
    const outOfMemory = host.analyze({ ...input, seed: 2, deadlineMs: 120_000 });
    const behind = host.analyze({ ...input, seed: 3, deadlineMs: 120_000 });
    const [first, second, third] = await Promise.allSettled([inFlight, outOfMemory, behind]);
    assert.deepEqual(
      [first, second].map((outcome) => (outcome!.status === 'rejected' ? (outcome!.reason as ImagefleetError).code : 'ok')),
      ['engine_out_of_memory', 'engine_out_of_memory'],
    );
    assert.equal(third!.status, 'fulfilled', third!.status === 'rejected' ? String(third!.reason) : '');
    assert.notEqual(host.pid, pid);
  } finally {
    await host.close();
  }
});

test('a host that died unnoticed costs the request sent to it, never the worker', async () => {
  const host = cpuHost(tiny, 1, 1024);
  const watch = watchEscapes();
  try {
    await host.start();
    const input = await taggingInput(25);
    assert.ok(input.imageJpeg.length < 12_000, `${input.imageJpeg.length} bytes`); // a message small enough to be written at once
    const pid = host.pid!;
    process.kill(pid, 'SIGKILL');
    // Dead, but this process has not processed the exit: the host still counts as ready, and the
    // request goes to a closed channel (EPIPE).
    blockUntil(() => processGone(pid), 10_000, 'the killed host to be gone');
    assert.ok(host.ready);
    await assert.rejects(host.analyze({ ...input, seed: 1, deadlineMs: 60_000 }), (error: ImagefleetError) => error.code === 'engine_crashed' && !error.permanent);
    await waitFor(() => host.ready && host.pid !== pid, 30_000, 'the host to restart');
    const again = await host.analyze({ ...input, seed: 2, deadlineMs: 60_000 });
    assert.ok(again.completionTokens > 0);

    // Shutting down a host that died unnoticed (the shutdown message hits a closed channel).
    const second = host.pid!;
    process.kill(second, 'SIGKILL');
    blockUntil(() => processGone(second), 10_000, 'the killed host to be gone');
    await host.close();
    assert.deepEqual(watch.escaped, []);
  } finally {
    watch.stop();
    await host.close();
  }
});

test('prompt tokens are the prompt (image included), the same with one slot and with parallel slots', async () => {
  const single = cpuHost(tiny, 1, 1024);
  const parallel = cpuHost(tiny, 2, 1024);
  try {
    await Promise.all([single.start(), parallel.start()]);
    const input = await taggingInput(30);
    const answers: Record<string, EngineAnswer[]> = { single: [], parallel: [] };
    // Twice each: the second time the prompt is in the KV cache, and still counts.
    for (const seed of [1, 2]) {
      answers.single!.push(await single.analyze({ ...input, seed, deadlineMs: 60_000 }));
      answers.parallel!.push(await parallel.analyze({ ...input, seed, deadlineMs: 60_000 }));
    }
    const counts = Object.entries(answers).map(([name, list]) => `${name}: ${list.map((answer) => `${answer.promptTokens}/${answer.completionTokens}`).join(', ')}`);
    const prompts = [...answers.single!, ...answers.parallel!].map((answer) => answer.promptTokens);
    assert.ok(Math.max(...prompts) - Math.min(...prompts) <= 3, counts.join(' | '));
    for (const answer of [...answers.single!, ...answers.parallel!]) {
      assert.notEqual(answer.promptTokens, answer.completionTokens, counts.join(' | '));
      // 16 image tokens plus a tagging prompt of a few hundred tokens.
      assert.ok(answer.promptTokens > 100, counts.join(' | '));
    }
  } finally {
    await Promise.all([single.close(), parallel.close()]);
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
