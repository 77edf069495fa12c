// The planner held against llama.cpp on this machine: a synthetic model of a published shape under
// llama-server (-ngl 0) at 1, 2 and 4 slots, the worker's context per slot, and for each run the
// planner's predicted bytes beside what the server allocates (its own log) and really uses (RSS
// after load; peak after one request per slot that fills the slot's context). Prints a Markdown
// table (and writes JSON with --json FILE).
//
//   node test/dist/bench/planner-check.js [--like qwen3-vl-2b] [--type q8_0] [--slots 1,2,4] [--dir data/models/synthetic] [--threads 2] [--json out.json]
//   [--measured earlier.json]: take the measurements from an earlier run's JSON and predict again (after a planner change).
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeSyntheticModel, syntheticFileNames, syntheticProjectorFile, syntheticTextFile, syntheticWriter, validateModelPair, type SyntheticType } from '@imagefleet/engine';
import { contextPerSlotFor } from '@imagefleet/worker';
import { llamaServerBinary } from '../helpers/llama-server.js';
import { largestImageSide, measureServerMemory, predictMemory, reportedTotal, type ServerMemory } from '../helpers/server-memory.js';

const { values } = parseArgs({
  options: {
    like: { type: 'string', default: 'qwen3-vl-2b' },
    type: { type: 'string', default: 'q8_0' },
    slots: { type: 'string', default: '1,2,4' },
    dir: { type: 'string', default: 'data/models/synthetic' },
    threads: { type: 'string', default: String(Math.min(availableParallelism(), 16)) },
    json: { type: 'string' },
    measured: { type: 'string' },
  },
});
const like = values.like;
const type = values.type as SyntheticType;
const MiB = 1024 ** 2;
const mib = (bytes: number) => (bytes / MiB).toFixed(0);

// Generate the pair once (a 2B Q8_0 pair is 2.5 GB, ~15 s); a later run reuses it.
const names = syntheticFileNames({ like, type });
const files = { model: join(values.dir, names.model), mmproj: join(values.dir, names.mmproj) };
const sizes = [syntheticWriter(syntheticTextFile(like, type), 1).fileBytes(), syntheticWriter(syntheticProjectorFile(like, 'f16'), 1).fileBytes()];
if (!existsSync(files.model) || !existsSync(files.mmproj) || statSync(files.model).size !== sizes[0] || statSync(files.mmproj).size !== sizes[1]) {
  console.error(`generating ${like} ${type} in ${values.dir} ...`);
  await makeSyntheticModel(values.dir, { like, type, seed: 1 });
}
const pair = await validateModelPair(files.model, files.mmproj);
const contextPerSlot = Math.min(contextPerSlotFor(pair), pair.model.contextLength ?? Number.MAX_SAFE_INTEGER);
const binary = values.measured ? '' : await llamaServerBinary();
const slotCounts = values.slots.split(',').map(Number);
const threads = Number(values.threads);

const earlier = values.measured ? (JSON.parse(readFileSync(values.measured, 'utf8')) as { rows: { slots: number; measured: ServerMemory }[] }).rows : undefined;
const rows = [];
for (const slots of earlier?.map((row) => row.slots) ?? slotCounts) {
  console.error(`${slots} slot(s) x ${contextPerSlot} tokens ...`);
  const prediction = await predictMemory(pair, slots, contextPerSlot);
  const measured = earlier?.find((row) => row.slots === slots)?.measured ?? (await measureServerMemory({ binary, pair, slots, contextPerSlot, threads, onLine: (line) => console.error(line) }));
  console.error(`  ${measured.promptTokens.join(', ')} prompt tokens in ${measured.requestSeconds.toFixed(0)} s; peak ${mib(measured.peakBytes)} MiB`);
  rows.push({ slots, contextPerSlot, prediction: { ...prediction.plan, device: undefined, totalBytes: prediction.totalBytes }, measured });
  // After every row: a run of an hour should not be lost to one interruption.
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ like, type, threads, contextPerSlot, rows }, null, 2)}\n`);
}

const header =
  `${like} synthetic ${type.toUpperCase()} + F16 mmproj (${mib(pair.model.fileBytes)} + ${mib(pair.projector.fileBytes)} MiB), llama-server -ngl 0 --threads ${threads}, ` +
  `${contextPerSlot} tokens per slot, one request per slot: a ${largestImageSide()} px square image + prompt filling the slot. MiB.`;
const table = [
  '| Slots | `-c` | Predicted: weights + projector | projector compute | context (KV + compute) | images | **total** | llama.cpp allocates: weights + projector | projector compute | KV + compute | **total** | RSS after load | **peak RSS** | predicted / peak |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map(({ slots, prediction: p, measured: m }) => {
    const r = m.reported;
    return (
      `| ${slots} | ${slots * contextPerSlot} | ${mib(p.weightBytes + p.projectorBytes)} | ${mib(p.projectorComputeBytes)} | ${mib(p.contextBytes)} | ${mib(p.imageBytes)} | **${mib(p.totalBytes)}** ` +
      `| ${mib(r.weights + r.projector)} | ${mib(r.projectorCompute)} | ${mib(r.kv + r.compute)} | **${mib(reportedTotal(r))}** ` +
      `| ${mib(m.afterLoadBytes)} | **${mib(m.peakBytes)}** | ${(p.totalBytes / m.peakBytes).toFixed(2)} |`
    );
  }),
];
console.log(`${header}\n\n${table.join('\n')}`);
