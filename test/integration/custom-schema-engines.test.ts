import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, ImagefleetError } from '@imagefleet/core';
import { EngineHost, EngineSupervisor, LlamaServerEngine, makeTinyModel, type TinyModelFiles, type VisionEngine } from '@imagefleet/engine';
import { prepareJpeg } from '@imagefleet/imaging';
import { boundSchema, customTask, type JsonSchema } from '@imagefleet/tasks';
import { syntheticPhoto } from '../helpers/images.js';
import { llamaServerBinary } from '../helpers/llama-server.js';
import { acceptedSchemas, hostileSchemas } from '../helpers/schema-cases.js';

/**
 * The POST-time schema check agrees with the engines the fleet runs: every schema it accepts (as
 * bounded) is served by llama-server and by llama.node, and every hostile schema an engine refuses
 * or chokes on is refused by the check. A schema an engine refuses fails only its own request
 * (engine_rejected, no crash charged), and the engine keeps serving the others.
 */

let dir: string;
let tiny: TinyModelFiles;
let imageJpeg: Buffer;
const logger = createLogger('test-schema-engines', 'silent');
/** Too big to send to an engine in a test: they freeze llama-server for minutes (the check refuses them by size). */
const FREEZERS = new Set(['300,000-value enum', '20,000 anyOf branches']);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-schema-'));
  tiny = await makeTinyModel(join(dir, 'tiny'), { seed: 7 });
  imageJpeg = (await prepareJpeg(await syntheticPhoto(3, 200, 150), { maxPixels: 1e8 }, customTask.budget)).jpeg;
});
after(() => rmSync(dir, { recursive: true, force: true }));

function input(schema: JsonSchema, seed: number) {
  return { imageJpeg, prompt: 'Describe the image. Answer with JSON only.', schema, maxTokens: 24, seed, deadlineMs: 60_000 };
}

function refusedByCheck(schema: unknown): boolean {
  return customTask.validateOptions({ prompt: 'x', schema }) !== undefined;
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  return promise.then(() => 'answered', (error: unknown) => (error instanceof ImagefleetError ? error.code : `threw ${String(error)}`));
}

/** A supervisor whose crash records say whether any request was charged a crash. */
function supervised(engine: VisionEngine, slots: number) {
  const charged: number[] = [];
  const supervisor = new EngineSupervisor(engine, { plannedSlots: slots, maxCrashes: 2, probationMs: 1000, logger });
  const crashes = () => ({ previous: 0, save: async (count: number) => void charged.push(count) });
  return { supervisor, charged, crashes };
}

test('llama-server: serves every accepted schema; refuses no schema the check accepts; a refused one costs only its request', async () => {
  const engine = new LlamaServerEngine({ binary: await llamaServerBinary(), ...tiny, slots: 2, contextPerSlot: 2048, gpuLayers: 0, threads: 1, loadTimeoutMs: 60_000, restartBackoffMs: 100, logger });
  try {
    await engine.start();
    for (const [index, { name, schema }] of acceptedSchemas.entries()) {
      assert.equal(await outcome(engine.analyze(input(boundSchema(schema), index))), 'answered', name);
    }
    const refusedByServer: string[] = [];
    for (const { name, schema } of hostileSchemas.filter((hostile) => !FREEZERS.has(hostile.name))) {
      // A 400 is engine_rejected; a schema the server chokes on misses the deadline (the engine restarts it).
      const result = await outcome(engine.analyze({ ...input(schema as JsonSchema, 1), deadlineMs: 15_000 }));
      if (result !== 'answered') {
        refusedByServer.push(`${name} (${result})`);
        assert.ok(refusedByCheck(schema), `llama-server refused ${name} (${result}), the check accepted it`);
      }
    }
    assert.ok(refusedByServer.includes('minLength 100,000,000 (engine_rejected)'), `llama-server refused: ${refusedByServer.join(', ')}`);

    const { supervisor, charged, crashes } = supervised(engine, 2);
    const bad = { type: 'string', minLength: 100_000_000 };
    const restartsBefore = engine.restarts;
    const results = await Promise.all([supervisor.analyze(input(bad, 1), crashes()), supervisor.analyze(input({ type: 'boolean' }, 2), crashes()), supervisor.analyze(input({ type: 'boolean' }, 3), crashes())].map(outcome));
    assert.deepEqual(results, ['engine_rejected', 'answered', 'answered']);
    assert.deepEqual(charged, []);
    assert.equal(engine.restarts, restartsBefore, 'a 400 restarts nothing');
      } finally {
    await engine.close();
  }
});

test('llama.node: serves every accepted schema; a schema it refuses fails alone as engine_rejected, the others are answered and nobody is charged a crash', async () => {
  const host = new EngineHost({ ...tiny, slots: 2, contextPerSlot: 2048, gpuLayers: 0, threads: 1, libVariant: 'default', loadTimeoutMs: 60_000, restartBackoffMs: 100, logger });
  try {
    await host.start();
    for (const [index, { name, schema }] of acceptedSchemas.entries()) {
      assert.equal(await outcome(host.analyze(input(boundSchema(schema), index))), 'answered', name);
    }
    const refusedByHost: string[] = [];
    for (const { name, schema } of hostileSchemas.filter((hostile) => !FREEZERS.has(hostile.name))) {
      const result = await outcome(host.analyze(input(schema as JsonSchema, 1)));
      if (result !== 'answered') {
        refusedByHost.push(name);
        // A grammar it refuses is engine_rejected; some (minLength 100,000,000) abort the host: engine_crashed.
        assert.ok(refusedByCheck(schema), `llama.node refused ${name} (${result}), the check accepted it`);
      }
    }
    assert.ok(refusedByHost.includes('unanchored pattern'), `llama.node refused: ${refusedByHost.join(', ')}`);

    const { supervisor, charged, crashes } = supervised(host, 2);
    const bad = { type: 'string', pattern: '[a-z]+' };
    const results = await Promise.all([supervisor.analyze(input({ type: 'boolean' }, 2), crashes()), supervisor.analyze(input(bad, 1), crashes()), supervisor.analyze(input({ type: 'boolean' }, 3), crashes())].map(outcome));
    assert.deepEqual(results, ['answered', 'engine_rejected', 'answered']);
    assert.deepEqual(charged, []);
  } finally {
    await host.close();
  }
});
