// The GPU benchmark (test/bench/gpu) runs without Node on a GPU machine; these tests keep it from
// rotting here: its spec.json is what the Node side exports now, its Python writer produces the
// headers the Node writer produces, and the whole script runs end to end on this CPU with the
// test shape.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { syntheticFileNames, syntheticProjectorFile, syntheticTextFile, syntheticWriter, type SyntheticType } from '@imagefleet/engine';
import { exportSpec } from '../bench/gpu/export-spec.js';
import { llamaServerBinary } from '../helpers/llama-server.js';

const run = promisify(execFile);
const benchDir = fileURLToPath(new URL('../../bench/gpu/', import.meta.url));
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-gpu-bench-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('spec.json and the prepared images are what export-spec.js exports now (regenerate them after a planner or shape change)', async () => {
  const { spec, images } = await exportSpec();
  assert.ok(readFileSync(join(benchDir, 'spec.json'), 'utf8') === spec, 'test/bench/gpu/spec.json is stale: run `npm run build && node test/dist/bench/gpu/export-spec.js`');
  assert.deepEqual(readdirSync(join(benchDir, 'images')).sort(), [...images.keys()].sort());
});

test('the Python writer produces the Node writer\'s headers byte for byte (vocabulary, metadata, tensor infos)', async () => {
  for (const [like, type] of [['qwen3-vl-tiny', 'q8_0'], ['qwen3-vl-8b', 'q4_0'], ['qwen3-vl-2b', 'q8_0']] as [string, SyntheticType][]) {
    await run('python3', [join(benchDir, 'synthetic_gguf.py'), '--like', like, '--type', type, '--out', dir, '--header-only']);
    const names = syntheticFileNames({ like, type });
    const model = readFileSync(join(dir, `${names.model}.header`));
    const mmproj = readFileSync(join(dir, `${names.mmproj}.header`));
    assert.ok(model.equals(syntheticWriter(syntheticTextFile(like, type), 1).headerBytes()), `${like} ${type} model header`);
    assert.ok(mmproj.equals(syntheticWriter(syntheticProjectorFile(like, 'f16'), 1).headerBytes()), `${like} mmproj header`);
  }
});

test('run.sh runs end to end on this CPU with the test shape: models generated in Python, llama-server at 1 and 2 slots, JSON and Markdown', async () => {
  const out = join(dir, 'out');
  const { stdout } = await run(join(benchDir, 'run.sh'), [], {
    env: {
      ...process.env, LLAMA_SERVER_BIN: await llamaServerBinary(), MODELS: 'qwen3-vl-tiny:q8_0', SLOTS: '1,2', OUT: out, GPU_LAYERS: '0', THREADS: '1',
      MAX_TOKENS: '16', REQUESTS_PER_SLOT: '2', MIN_REQUESTS: '2',
    },
    timeout: 300_000,
  });
  const result = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { device: string; rows: Record<string, unknown>[] };
  assert.match(result.device, /^CPU/);
  assert.deepEqual(result.rows.map((row) => [row.model, row.slots, row.errors, row.error]), [['qwen3-vl-tiny:q8_0', 1, 0, undefined], ['qwen3-vl-tiny:q8_0', 2, 0, undefined]]);
  for (const row of result.rows) {
    assert.ok((row.imagesPerSecond as number) > 0 && (row.completionTokensPerSecond as number) > 0 && (row.ttftP50 as number) > 0, JSON.stringify(row));
    assert.ok((row.meanPromptTokens as number) > 100, 'the image and the tagging prompt reach the model');
    assert.ok((row.peakRssBytes as number) > 0 && (row.predictedBytes as number) > 0);
    assert.ok(((row.reported as Record<string, number>).kv ?? 0) > 0, 'llama.cpp buffer sizes read from its log');
  }
  assert.match(stdout, /\| qwen3-vl-tiny:q8_0 \| 2 \| [\d.]+ \|/);
  assert.equal(readFileSync(join(out, 'results.md'), 'utf8'), `${stdout.trim()}\n`);
});
