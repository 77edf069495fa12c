// npm run chaos — the fault suite of issue 9: each scenario on a fresh fleet (real redis-server with
// AOF everysec, s3rver behind the project's S3 fault proxy, producer + 3 worker processes, inspect),
// one table at the end.
//   npm run chaos [-- 1 3 5]          only these scenarios (ids start with the number)
//   CHAOS_LONG=1                      adds S3 unreachable for 10 minutes
//   CHAOS_IMAGES=1000                 inputs per batch
//   CHAOS_LOGS=/some/dir              keep the child process logs there (default: a temp dir, removed)
//   CHAOS_UNREACHABLE_MODE=refuse     or blackhole (accept connections, never answer)
// Exit code 1 when a scenario misses the target.
import { prepareWorld, type ChaosWorld } from './harness.js';
import {
  baseline,
  finalAttemptKill,
  finalAttemptWriteFailure,
  manifestOutage,
  producerKill,
  redisOutage,
  s3Faults,
  s3Unreachable,
  workerKills,
  type ScenarioResult,
} from './scenarios.js';

const MIN = 60_000;
const images = Number(process.env.CHAOS_IMAGES ?? 1000);
const long = process.env.CHAOS_LONG === '1';
const unreachableMode = process.env.CHAOS_UNREACHABLE_MODE === 'blackhole' ? 'blackhole' : 'refuse';
const only = process.argv.slice(2);

const scenarios: { id: string; run: (world: ChaosWorld) => Promise<ScenarioResult> }[] = [
  { id: '0', run: (world) => baseline(world, { settleMs: 3 * MIN }) },
  { id: '1', run: (world) => workerKills(world, { kills: 20, gate: 'time', intervalMs: 1500, settleMs: 5 * MIN }) },
  { id: '2a', run: (world) => redisOutage(world, { how: 'shutdown', downMs: 5000, settleMs: 5 * MIN }) },
  { id: '2b', run: (world) => redisOutage(world, { how: 'sigkill', downMs: 0, settleMs: 5 * MIN }) },
  // Finalize's retry budget at JOB_BACKOFF_MS=200 is ~3.5 min: 5 min lets a slow success count.
  { id: '3', run: (world) => s3Faults(world, { slowDown: 0.1, reset: 0.03, settleMs: 5 * MIN }) },
  // The lister lock of the dead producer lasts 60 s; a takeover must come within a lock period.
  { id: '4', run: (world) => producerKill(world, { settleMs: 3 * MIN }) },
  { id: '5', run: (world) => manifestOutage(world, { minMs: 60_000, maxMs: 4 * MIN, settleMs: 3 * MIN }) },
  { id: '6', run: (world) => s3Unreachable(world, { id: '6', outageMs: 40_000, mode: unreachableMode, settleMs: 4 * MIN, transient: true }) },
  ...(long
    ? [{ id: '6L', run: (world: ChaosWorld) => s3Unreachable(world, { id: '6L', outageMs: 10 * MIN, mode: unreachableMode, settleMs: 5 * MIN, transient: false }) }]
    : []),
  { id: '7', run: (world) => finalAttemptKill(world, { kills: 3, settleMs: 3 * MIN }) },
  // The failure path of a final attempt: its result write fails, and so does recording the failure.
  { id: '7b', run: (world) => finalAttemptWriteFailure(world, { inputs: 3, failMs: 5000, settleMs: 3 * MIN }) },
];

function row(cells: string[], widths: number[]): string {
  return `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
}

function table(results: ScenarioResult[]): string {
  const header = ['scenario', 'inputs', 'ok', 'failed', 'missing', 'duplicate', 'terminal state', 'seconds', 'target'];
  const rows = results.map((result) => [
    `${result.id}: ${result.title}`,
    String(result.inputs),
    String(result.ok),
    String(result.failed),
    String(result.missing),
    String(result.duplicate),
    result.reached ? result.state! : `no: ${result.state ?? 'unknown'}`,
    // Not reached: the time waited before giving up.
    `${result.reached ? '' : '>'}${result.seconds.toFixed(1)}`,
    result.met ? 'met' : 'MISSED',
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((cells) => cells[i]!.length)));
  return [row(header, widths), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.map((cells) => row(cells, widths))].join('\n');
}

const selected = scenarios.filter((scenario) => only.length === 0 || only.includes(scenario.id));
if (selected.length === 0) {
  console.error(`no scenario matches ${only.join(' ')}; ids: ${scenarios.map((scenario) => scenario.id).join(' ')}`);
  process.exit(2);
}
const started = Date.now();
console.log(`fault suite: ${selected.length} scenarios, ${images} images each${long ? ' (CHAOS_LONG)' : ''}; preparing inputs...`);
const world = await prepareWorld({ images, logRoot: process.env.CHAOS_LOGS });
const results: ScenarioResult[] = [];
const stop = () => {
  console.error('interrupted: cleaning up');
  // Fleet processes and their Redis dirs go in the harness's exit hook; the shared services here.
  void Promise.race([world.close(), new Promise((resolve) => setTimeout(resolve, 10_000))]).finally(() => process.exit(130));
};
process.once('SIGINT', stop);
try {
  for (const scenario of selected) {
    const scenarioStarted = Date.now();
    console.log(`\n== scenario ${scenario.id} ...`);
    let result: ScenarioResult;
    try {
      result = await scenario.run(world);
    } catch (error) {
      result = {
        id: scenario.id,
        title: 'harness error',
        inputs: images,
        ok: 0,
        failed: 0,
        missing: images,
        duplicate: 0,
        lines: 0,
        manifest: false,
        state: undefined,
        reached: false,
        seconds: (Date.now() - scenarioStarted) / 1000,
        transient: true,
        met: false,
        injected: 0,
        notes: [`the scenario could not run: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`],
      };
    }
    results.push(result);
    console.log(`${result.id}: ${result.met ? 'target met' : 'target MISSED'} — ${result.lines} lines, ${result.ok} ok, ${result.failed} failed, ${result.missing} missing, ${result.duplicate} duplicate, ${result.reached ? result.state : `no: ${result.state}`}, ${result.seconds.toFixed(1)} s`);
    for (const note of result.notes) console.log(`   - ${note}`);
  }
} finally {
  await world.close();
}
console.log(`\nFault suite (${images} distinct JPEGs per batch, 3 worker processes, ${((Date.now() - started) / 60_000).toFixed(1)} min in all):\n`);
console.log(table(results));
console.log('\ntarget: lines = inputs, 0 missing, 0 duplicate, terminal state reached, and for transient faults every input ok');
if (!process.env.CHAOS_LOGS) console.log('(set CHAOS_LOGS=<dir> to keep the process logs)');
process.exit(results.every((result) => result.met) ? 0 : 1);
