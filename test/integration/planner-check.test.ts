// The planner held against llama.cpp itself (the full check on the 2B shape is
// test/bench/planner-check.ts; its table is in the README). Two kinds of evidence:
// - llama.cpp's own allocations, read from llama-server's log: exact, so each of the planner's
//   components must be within 10 % of them (the weights within 1 %). For the published shapes
//   the files are sparse (header + holes) and nothing is computed.
// - the server's real memory (RSS) on a small shape after one request per slot that fills the
//   slot's context: it may exceed the prediction only by the process itself (binary, libraries,
//   threads: ~25 MiB here), which the planner leaves to MEMORY_SAFETY_MARGIN_MIB, so the peak must
//   stay under predicted + 64 MiB.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  makeSyntheticModel, qwen3VlShapes, syntheticProjectorFile, syntheticTextFile, syntheticWriter, validateModelPair, type Qwen3VlShape, type SyntheticFile,
} from '@imagefleet/engine';
import { llamaServerBinary } from '../helpers/llama-server.js';
import { measureServerMemory, predictMemory, reportedAllocations } from '../helpers/server-memory.js';

const MiB = 1024 ** 2;
let dir: string;
let binary: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-planner-check-'));
  binary = await llamaServerBinary();
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A file with the real header and a hole where the tensor data goes: full size on paper, nothing on disk. */
function sparse(path: string, file: SyntheticFile): string {
  const writer = syntheticWriter(file, 1);
  const fd = openSync(path, 'w');
  writeSync(fd, writer.headerBytes());
  ftruncateSync(fd, writer.fileBytes());
  closeSync(fd);
  return path;
}

const within = (predicted: number, actual: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(predicted / actual - 1) <= tolerance, `${what}: predicted ${(predicted / MiB).toFixed(1)} MiB, llama.cpp ${(actual / MiB).toFixed(1)} MiB`);

/** A published shape with 4 text layers and a 4,096-token vocabulary: the same widths (what the compute buffers depend on) at a fraction of the bytes. */
function standIn(like: keyof typeof qwen3VlShapes, heads?: { num_attention_heads: number; num_key_value_heads: number; intermediate_size: number }): Qwen3VlShape {
  const base: Qwen3VlShape = qwen3VlShapes[like];
  return { ...base, text: { ...base.text, num_hidden_layers: 4, vocab_size: 4096, ...heads } };
}

describe('planner vs llama.cpp\'s allocations for the published shapes (nothing computed)', () => {
  // llama.cpp faults in every page of the weights while loading, even of a sparse file, so the
  // text models here keep the published widths but 4 layers and a small vocabulary.
  test('the text models of the 2B, 4B and 8B shapes, 1 and 4 slots x 3072 tokens: weights, KV cache and compute buffers', async () => {
    for (const like of ['qwen3-vl-2b', 'qwen3-vl-4b', 'qwen3-vl-8b'] as const) {
      const model = sparse(join(dir, `${like}.gguf`), syntheticTextFile(standIn(like), 'q8_0'));
      const mmproj = sparse(join(dir, `${like}-mmproj.gguf`), syntheticProjectorFile(like, 'f16'));
      const pair = await validateModelPair(model, mmproj);
      for (const slots of [1, 4]) {
        const reported = await reportedAllocations({ binary, model, mmproj, slots, contextPerSlot: 3072, textOnly: true });
        const { plan } = await predictMemory(pair, slots, 3072);
        within(plan.weightBytes, reported.weights, 0.01, `${like} weights`);
        within(plan.contextBytes, reported.kv + reported.compute, 0.1, `${like} ${slots} slot(s) KV + compute`);
      }
      rmSync(model);
      rmSync(mmproj);
    }
  });

  test('the projectors of the 2B/4B and 8B shapes: weights and the compute buffer llama.cpp reserves', async () => {
    for (const like of ['qwen3-vl-2b', 'qwen3-vl-8b'] as const) {
      // The text model only has to be as wide as the projector's output; it holds real data because the warmup runs it.
      const model = join(dir, `${like}-stand-in.gguf`);
      await syntheticWriter(syntheticTextFile(standIn(like, { num_attention_heads: 2, num_key_value_heads: 1, intermediate_size: 256 }), 'q8_0'), 1).write(model);
      const mmproj = sparse(join(dir, `${like}-mmproj.gguf`), syntheticProjectorFile(like, 'f16'));
      const pair = await validateModelPair(model, mmproj);
      const reported = await reportedAllocations({ binary, model, mmproj, slots: 1, contextPerSlot: 512, warmup: true });
      const { plan } = await predictMemory(pair, 1, 512);
      within(plan.projectorBytes, reported.projector, 0.01, `${like} projector weights`);
      within(plan.projectorComputeBytes, reported.projectorCompute, 0.1, `${like} projector compute`);
      rmSync(model);
      rmSync(mmproj);
    }
  });
});

test('a small shape under llama-server: every component within 10 % of llama.cpp\'s figure, peak RSS under predicted + 64 MiB', async () => {
  const files = await makeSyntheticModel(join(dir, 'small'), { like: 'qwen3-vl-tiny', type: 'q8_0' });
  const pair = await validateModelPair(files.model, files.mmproj);
  for (const slots of [1, 2]) {
    const measured = await measureServerMemory({ binary, pair, slots, contextPerSlot: 1024, threads: 1, imageSide: 512 });
    const { plan, totalBytes } = await predictMemory(pair, slots, 1024, 512);
    const r = measured.reported;
    within(plan.weightBytes, r.weights, 0.01, 'weights');
    within(plan.projectorBytes, r.projector, 0.01, 'projector');
    within(plan.projectorComputeBytes, r.projectorCompute, 0.1, 'projector compute');
    within(plan.contextBytes, r.kv + r.compute, 0.1, `${slots} slot(s) KV + compute`);
    assert.ok(measured.promptTokens.every((tokens) => tokens > 900), `the requests filled the slots: ${measured.promptTokens.join(', ')} prompt tokens`);
    assert.ok(measured.peakBytes <= totalBytes + 64 * MiB, `peak RSS ${(measured.peakBytes / MiB).toFixed(0)} MiB > predicted ${(totalBytes / MiB).toFixed(0)} + 64 MiB`);
  }
});
