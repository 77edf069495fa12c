import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, ImagefleetError, type ErrorCode } from '@imagefleet/core';
import { EngineSupervisor, type AnalyzeInput, type EngineAnswer, type VisionEngine } from '@imagefleet/engine';
import { waitFor } from '../helpers/processes.js';

/**
 * A stand-in driver: requests wait until the test settles them, so the test decides what the
 * engine did (answer, crash, out of memory) while several are in flight. The policy under test is
 * the real EngineSupervisor; the real drivers are tested against llama.cpp elsewhere.
 */
class ScriptedEngine implements VisionEngine {
  readonly kind = 'server';
  readonly modelName = 'scripted.gguf';
  ready = true;
  restarts = 0;
  resizes: number[] = [];
  readonly waiting: { resolve(answer: EngineAnswer): void; reject(error: Error): void }[] = [];

  constructor(public slots: number) {}

  analyze(_input: AnalyzeInput): Promise<EngineAnswer> {
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  async resize(slots: number): Promise<void> {
    this.resizes.push(slots);
    this.slots = slots;
    this.restarts += 1;
  }

  /** Every request in flight fails the same way: what a dying engine does. */
  failAll(code: ErrorCode): void {
    for (const request of this.waiting.splice(0)) request.reject(new ImagefleetError(code, `engine says ${code}`));
  }

  answerAll(): void {
    for (const request of this.waiting.splice(0)) request.resolve({ text: '{}', promptTokens: 500, completionTokens: 20, promptMs: 1, generationMs: 1, truncated: false });
  }

  async close(): Promise<void> {}
}

const input: AnalyzeInput = { imageJpeg: Buffer.alloc(1), prompt: 'p', schema: {}, maxTokens: 32, seed: 1, deadlineMs: 1000 };

function jobRecord(previous = 0) {
  const saved: number[] = [];
  return { record: { previous, save: async (count: number) => void saved.push(count) }, saved };
}

async function settled(promise: Promise<unknown>): Promise<ImagefleetError | 'ok'> {
  return promise.then(
    () => 'ok' as const,
    (error: ImagefleetError) => error,
  );
}

function supervisorFor(engine: ScriptedEngine, maxCrashes = 2, probationMs = 60_000) {
  return new EngineSupervisor(engine, { plannedSlots: engine.slots, maxCrashes, probationMs, logger: createLogger('test', 'silent') });
}

test('an out-of-memory failure of 4 requests in flight halves the slots once and charges none of them', async () => {
  const engine = new ScriptedEngine(4);
  const supervisor = supervisorFor(engine);
  const jobs = Array.from({ length: 4 }, () => jobRecord());
  const results = jobs.map(({ record }) => settled(supervisor.analyze(input, record)));
  await waitFor(() => engine.waiting.length === 4, 5000, '4 requests in the engine');
  assert.equal(supervisor.gate.busy, 4);
  engine.failAll('engine_out_of_memory');
  const outcomes = await Promise.all(results);
  assert.deepEqual(outcomes.map((outcome) => (outcome === 'ok' ? 'ok' : outcome.code)), Array(4).fill('engine_out_of_memory'));
  assert.deepEqual(engine.resizes, [2], 'one back-off for one event');
  assert.equal(supervisor.oomBackoffs, 1);
  assert.equal(supervisor.gate.capacity, 2);
  assert.deepEqual(jobs.map(({ saved }) => saved), [[], [], [], []], 'nobody charged a crash');
});

test('a crash is charged to every job in flight; the one charged maxCrashes times fails for good; probation allows one at a time', async () => {
  const engine = new ScriptedEngine(2);
  const supervisor = supervisorFor(engine, 2, 200);
  const innocent = jobRecord(0);
  const suspect = jobRecord(1);
  const results = [settled(supervisor.analyze(input, innocent.record)), settled(supervisor.analyze(input, suspect.record))];
  await waitFor(() => engine.waiting.length === 2, 5000, '2 requests in the engine');
  engine.failAll('engine_crashed');
  const [first, second] = await Promise.all(results);
  assert.equal((first as ImagefleetError).code, 'engine_crashed');
  assert.equal((second as ImagefleetError).code, 'engine_crashed_repeatedly');
  assert.match((second as ImagefleetError).message, /crashed 2 times/);
  assert.deepEqual([innocent.saved, suspect.saved], [[1], [2]]);
  assert.equal(supervisor.gate.capacity, 1, 'probation: one job at a time');
  await waitFor(() => supervisor.gate.capacity === 2, 5000, 'probation to end');
  assert.equal(supervisor.oomBackoffs, 0);
});

test('answers pass through the gate and count tokens; other failures pass through unjudged', async () => {
  const engine = new ScriptedEngine(1);
  const supervisor = supervisorFor(engine);
  const job = jobRecord();
  const answered = supervisor.analyze(input, job.record);
  const queued = settled(supervisor.analyze(input, job.record));
  await waitFor(() => engine.waiting.length === 1, 5000, 'one request in the engine');
  assert.equal(supervisor.gate.queued, 1, 'the second waits for the one slot');
  engine.answerAll();
  assert.equal((await answered).completionTokens, 20);
  await waitFor(() => engine.waiting.length === 1, 5000, 'the queued request in the engine');
  engine.failAll('engine_rejected');
  assert.equal(((await queued) as ImagefleetError).code, 'engine_rejected');
  assert.deepEqual(supervisor.tokens, { prompt: 500, completion: 20 });
  assert.deepEqual(job.saved, []);
  assert.equal(supervisor.gate.capacity, 1);
});
