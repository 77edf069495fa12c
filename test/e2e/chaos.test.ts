// The shorter scenarios of the fault suite (npm run chaos) at 200 images: worker SIGKILLs, S3 503s
// and connection resets, and a worker killed while its final attempt's result PUT is held open.
// Target: one manifest line per input, none missing or doubled, the batch completed, every input ok.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareWorld, type ChaosWorld } from '../chaos/harness.js';
import { finalAttemptKill, s3Faults, workerKills, type ScenarioResult } from '../chaos/scenarios.js';

const IMAGES = 200;
const MIN = 60_000;
let world: ChaosWorld;

before(async () => {
  world = await prepareWorld({ images: IMAGES });
});

after(async () => {
  await world?.close();
});

/** The whole outcome in one comparison, with the scenario's evidence as the message. */
function assertTarget(result: ScenarioResult, faults: { kills?: number }): void {
  const outcome = {
    manifest: result.manifest,
    lines: result.lines,
    missing: result.missing,
    duplicate: result.duplicate,
    state: result.reached ? result.state : `no: ${result.state}`,
    ok: result.ok,
    failed: result.failed,
    ...(faults.kills === undefined ? {} : { kills: result.injected }),
  };
  const expected = { manifest: true, lines: IMAGES, missing: 0, duplicate: 0, state: 'completed', ok: IMAGES, failed: 0, ...faults };
  assert.deepEqual(outcome, expected, `${result.id}: ${result.title}\n${result.notes.join('\n')}`);
}

describe('fault suite, short scenarios (real Redis, S3 behind the fault proxy, worker processes)', { timeout: 30 * MIN }, () => {
  test('1: SIGKILL a random worker 5 times at even progress steps: every input ok exactly once, batch completed', { timeout: 8 * MIN }, async () => {
    const result = await workerKills(world, { id: 't1', kills: 5, gate: 'progress', settleMs: 3 * MIN });
    assertTarget(result, { kills: 5 });
  });

  test('3: S3 answers 503 SlowDown on 10 % and resets 3 % of connections: every input ok exactly once, batch completed', { timeout: 8 * MIN }, async () => {
    const result = await s3Faults(world, { slowDown: 0.1, reset: 0.03, settleMs: 4 * MIN });
    assert.ok(result.injected > 0, 'the proxy injected no fault');
    assertTarget(result, {});
  });

  test('7: a worker SIGKILLed while its final attempt holds a result PUT open (twice): input retried, batch completed', { timeout: 8 * MIN }, async () => {
    const result = await finalAttemptKill(world, { kills: 2, settleMs: 3 * MIN });
    assertTarget(result, { kills: 2 });
  });
});
