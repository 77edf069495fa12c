// The fault scenarios of issue 9 item 5. Each runs one batch over the world's inputs on a fresh
// fleet (redis-server, S3 fault proxy, producer and 3 workers as processes, ENGINE=none, `inspect`),
// injects its fault, waits for a terminal state until a scenario-specific deadline, and counts the
// manifest lines per key. Used by `npm run chaos` (run.ts) and by test/e2e/chaos.test.ts.
import { random } from '../helpers/images.js';
import { waitFor } from '../helpers/processes.js';
import { ChaosFleet, pidOwningLocalPort, sleep, type ChaosWorld, type ManifestCount } from './harness.js';

export interface ScenarioResult {
  id: string;
  title: string;
  inputs: number;
  ok: number;
  failed: number;
  missing: number;
  duplicate: number;
  lines: number;
  manifest: boolean;
  /** The batch state at the end (undefined when the API never answered). */
  state: string | undefined;
  reached: boolean;
  seconds: number;
  /** For transient faults every input must end ok. */
  transient: boolean;
  /** 1,000 lines (= inputs), 0 missing, 0 duplicates, terminal state reached, all ok if transient. */
  met: boolean;
  /** Faults injected: kills or restarts the driver did, else what the S3 proxy did (503s, resets, holds, refusals). */
  injected: number;
  notes: string[];
}

interface Spec {
  id: string;
  title: string;
  transient: boolean;
  env?: Record<string, string>;
  workers?: number;
  /** How long after the fault driver returns the batch may take to reach a terminal state. */
  settleMs: number;
}

/** Injects the scenario's fault; returns how many faults it injected (default: what the proxy counted). */
type Driver = (fleet: ChaosFleet, notes: string[]) => Promise<number | void>;

interface Hooks {
  /** Runs after the fleet started, before the batch is posted (faults that must catch the listing). */
  beforeSubmit?: (fleet: ChaosFleet) => void;
  /** Runs once the batch ended or the deadline passed, before the count: more evidence. */
  after?: (fleet: ChaosFleet, notes: string[]) => void;
}

export function targetMet(result: Pick<ScenarioResult, 'inputs' | 'lines' | 'missing' | 'duplicate' | 'reached' | 'failed' | 'transient' | 'manifest'>): boolean {
  return (
    result.manifest &&
    result.lines === result.inputs &&
    result.missing === 0 &&
    result.duplicate === 0 &&
    result.reached &&
    (!result.transient || result.failed === 0)
  );
}

async function runScenario(world: ChaosWorld, spec: Spec, drive: Driver, hooks: Hooks = {}): Promise<ScenarioResult> {
  const fleet = await ChaosFleet.start(world, { id: spec.id, env: spec.env });
  const notes: string[] = [];
  try {
    await fleet.startProducer();
    await fleet.startWorkers(spec.workers ?? 3);
    hooks.beforeSubmit?.(fleet);
    await fleet.submit(`chaos_${spec.id.replace(/[^A-Za-z0-9_]/g, '_')}`);
    let injected: number | undefined;
    try {
      const count = await drive(fleet, notes);
      injected = typeof count === 'number' ? count : undefined;
    } catch (error) {
      notes.push(`fault driver stopped early: ${error instanceof Error ? error.message : String(error)}`);
    }
    await fleet.waitForTerminal(Date.now() + spec.settleMs);
    const end = fleet.terminalAt ?? Date.now();
    hooks.after?.(fleet, notes);
    let counts: ManifestCount;
    try {
      counts = await fleet.count();
    } catch (error) {
      notes.push(`count failed: ${error instanceof Error ? error.message : String(error)}`);
      counts = { manifest: false, lines: 0, ok: 0, failed: 0, missing: world.inputs.length, duplicate: 0, extra: 0, malformed: 0, failureCodes: {} };
    }
    if (!counts.manifest) notes.push('no manifest.jsonl: counted the result objects written so far');
    if (counts.extra || counts.malformed) notes.push(`${counts.extra} lines for keys that are not inputs, ${counts.malformed} lines not JSON`);
    if (counts.failed > 0) notes.push(`failure codes: ${JSON.stringify(counts.failureCodes)}`);
    const status = fleet.status;
    if (status && !fleet.terminal) {
      // waitingFor / detail: what an unfinished batch says it waits on (when the API reports it).
      const { waitingFor, detail } = status as unknown as { waitingFor?: string | null; detail?: string | null };
      notes.push(`last status: ${status.state}, completed ${status.completed}, failed ${status.failed}, total ${status.total}, eta ${status.eta}, waitingFor ${waitingFor ?? '-'}${detail ? `: ${detail}` : ''}`);
    }
    if (fleet.statusError) notes.push(`last status poll failed: ${fleet.statusError}`);
    notes.push(`proxy: ${fleet.proxy.summary()}`);
    notes.push(...fleet.evidence());
    if (world.keepsLogs) notes.push(`logs: ${fleet.logDir}`);
    const result = {
      id: spec.id,
      title: spec.title,
      inputs: world.inputs.length,
      ok: counts.ok,
      failed: counts.failed,
      missing: counts.missing,
      duplicate: counts.duplicate,
      lines: counts.lines,
      manifest: counts.manifest,
      state: status?.state,
      reached: fleet.terminal,
      seconds: Math.round((end - fleet.submittedAt) / 100) / 10,
      transient: spec.transient,
      injected: injected ?? proxyFaults(fleet),
      notes,
    };
    return { ...result, met: targetMet(result) };
  } finally {
    await fleet.close();
  }
}

function proxyFaults(fleet: ChaosFleet): number {
  const { slowDown, resetBeforeForward, resetMidResponse, held, blackholed, outages } = fleet.proxy.counters;
  return slowDown + resetBeforeForward + resetMidResponse + held + blackholed + outages;
}

/** Waits until the given share of inputs has an outcome (a fault "mid-batch"). */
async function midBatch(fleet: ChaosFleet, share: number, timeoutMs = 180_000): Promise<void> {
  await fleet.waitForProgress(Math.ceil(fleet.total() * share), timeoutMs);
  if (fleet.terminal) throw new Error('the batch ended before the fault was injected');
}

/** 0: no fault at all, the control row: if it misses the target, the harness (or the fleet) is broken. */
export function baseline(world: ChaosWorld, options: { settleMs: number }): Promise<ScenarioResult> {
  return runScenario(world, { id: '0', title: 'no faults (control)', transient: true, settleMs: options.settleMs }, async () => 0);
}

export interface WorkerKillOptions {
  kills: number;
  /** Kill schedule: every intervalMs while the batch runs ('time'), or at even steps of progress ('progress'). */
  gate: 'time' | 'progress';
  intervalMs?: number;
  settleMs: number;
  seed?: number;
  id?: string;
}

/** 1: SIGKILL a random worker every ~1.5 s (or at even progress steps), a replacement started each time. */
export function workerKills(world: ChaosWorld, options: WorkerKillOptions): Promise<ScenarioResult> {
  const spec: Spec = {
    id: options.id ?? '1',
    title: `worker SIGKILL x${options.kills} ${options.gate === 'time' ? `every ${(options.intervalMs ?? 1500) / 1000} s` : 'at progress steps'}`,
    transient: true,
    settleMs: options.settleMs,
  };
  return runScenario(world, spec, async (fleet, notes) => {
    const dice = random(options.seed ?? 9);
    let kills = 0;
    const killedAt: number[] = [];
    for (let k = 1; k <= options.kills; k++) {
      if (options.gate === 'progress') await fleet.waitForProgress(Math.ceil((k * fleet.total()) / (options.kills + 1)), 120_000);
      else await sleep(options.intervalMs ?? 1500);
      if (fleet.terminal) break;
      // A started worker when there is one (a fresh replacement may still be booting).
      const candidates = fleet.ready().length > 0 ? fleet.ready() : fleet.alive();
      const victim = candidates[Math.floor(dice() * candidates.length)];
      if (!victim) throw new Error('no worker alive to kill');
      await fleet.kill(victim, 'SIGKILL');
      killedAt.push(fleet.done());
      kills++;
      fleet.startWorker();
    }
    notes.push(`${kills} of ${options.kills} kills done, at ${killedAt.join(', ')} inputs finished`);
    if (kills < options.kills) notes.push('the batch ended before every kill');
    return kills;
  });
}

export interface RedisOutageOptions {
  how: 'shutdown' | 'sigkill';
  /** Time Redis stays down. */
  downMs: number;
  /** Share of inputs finished when Redis goes down. */
  at?: number;
  settleMs: number;
}

/** 2: Redis SHUTDOWN (restarted downMs later) or SIGKILLed (restarted at once) mid-batch, AOF everysec. */
export function redisOutage(world: ChaosWorld, options: RedisOutageOptions): Promise<ScenarioResult> {
  const spec: Spec = {
    id: options.how === 'shutdown' ? '2a' : '2b',
    title: options.how === 'shutdown' ? `Redis SHUTDOWN, back ${options.downMs / 1000} s later` : 'Redis SIGKILL, restarted',
    transient: true,
    settleMs: options.settleMs,
  };
  return runScenario(world, spec, async (fleet, notes) => {
    await midBatch(fleet, options.at ?? 0.3);
    const at = fleet.done();
    if (options.how === 'shutdown') await fleet.redis.shutdown();
    else await fleet.redis.kill('SIGKILL');
    await sleep(options.downMs);
    await fleet.redis.restart();
    notes.push(`Redis ${options.how === 'shutdown' ? 'shut down' : 'SIGKILLed'} at ${at} inputs finished, down ${options.downMs / 1000} s`);
    return 1;
  });
}

export interface S3FaultOptions {
  slowDown: number;
  reset: number;
  settleMs: number;
}

/** 3: S3 answers 503 SlowDown on a share of requests and resets a share of connections, all batch long. */
export function s3Faults(world: ChaosWorld, options: S3FaultOptions): Promise<ScenarioResult> {
  const spec: Spec = {
    id: '3',
    title: `S3 503 on ${options.slowDown * 100} %, reset ${options.reset * 100} %`,
    transient: true,
    settleMs: options.settleMs,
  };
  return runScenario(world, spec, async () => undefined, {
    // From before the POST (submit() retries it if its bucket check is hit) to the end of the scenario.
    beforeSubmit: (fleet) => fleet.proxy.setRates({ slowDown: options.slowDown, reset: options.reset }),
  });
}

export interface ProducerKillOptions {
  settleMs: number;
}

/** 4: the producer SIGKILLed while the proxy holds its listing request open, then restarted at once. */
export function producerKill(world: ChaosWorld, options: ProducerKillOptions): Promise<ScenarioResult> {
  const spec: Spec = { id: '4', title: 'producer SIGKILL mid-listing', transient: true, settleMs: options.settleMs };
  const rule = 'hold the listing';
  return runScenario(
    world,
    spec,
    async (fleet, notes) => {
      await waitForRuleHit(fleet, rule, 60_000);
      const state = fleet.status?.state;
      await fleet.killProducer(fleet.producers.at(-1)!, 'SIGKILL');
      fleet.proxy.releaseHeld('reset');
      await fleet.startProducer();
      notes.push(`producer SIGKILLed while its ListObjectsV2 was held (batch state ${state ?? 'not polled yet'}), restarted at once`);
      return 1;
    },
    {
      // Only the listing (GET ?list-type=2), not the POST's bucket check; the restarted producer's listing passes.
      beforeSubmit: (fleet) => {
        fleet.proxy.addRule({ name: rule, methods: ['GET'], path: new RegExp(`^/${world.bucket}/?\\?(.*&)?list-type=2`), action: 'hold', maxHits: 1 });
      },
      after: (fleet, notes) => {
        const perProducer = fleet.producers.map((producer) => {
          const lines = fleet.producerLines().filter((line) => line.pid === producer.child.pid);
          return `${lines.filter((line) => line.msg === 'listing started').length}/${lines.filter((line) => line.msg === 'listing finished').length}`;
        });
        notes.push(`"listing started"/"listing finished" per producer (killed, restarted): ${perProducer.join(', ')}`);
      },
    },
  );
}

export interface ManifestOutageOptions {
  /** The manifest write fails at least this long after its first attempt... */
  minMs: number;
  /** ...and until the finalize job has failed for good (seen in Redis), but at most this long. */
  maxMs: number;
  settleMs: number;
  backoffMs?: number;
}

/** 5: every manifest.jsonl write answers 503 for longer than finalize's retry budget, then recovers. */
export function manifestOutage(world: ChaosWorld, options: ManifestOutageOptions): Promise<ScenarioResult> {
  const backoffMs = options.backoffMs ?? 50;
  const spec: Spec = {
    id: '5',
    title: 'manifest PUT failing > finalize budget',
    transient: true,
    // A short backoff makes finalize's retry budget (10 attempts, exponential) about a minute.
    env: { JOB_BACKOFF_MS: String(backoffMs) },
    settleMs: options.settleMs,
  };
  return runScenario(world, spec, async (fleet, notes) => {
    const rule = 'manifest writes';
    const remove = fleet.proxy.addRule({ name: rule, methods: ['PUT', 'POST'], path: /\/manifest\.jsonl(\?|$)/, action: 'slowdown' });
    try {
      await waitForRuleHit(fleet, rule, 600_000);
      const firstHit = Date.now();
      let finalizeFailedAt: number | undefined;
      while (Date.now() - firstHit < options.maxMs) {
        if (finalizeFailedAt === undefined) {
          const job = await fleet.finalizeJob();
          if (job?.failedReason && job.finishedOn) {
            finalizeFailedAt = Date.now();
            notes.push(`finalize job failed for good ${Math.round((finalizeFailedAt - firstHit) / 1000)} s after the first manifest write (attempts ${job.attemptsMade}): ${job.failedReason.slice(0, 160)}`);
          }
        }
        if (finalizeFailedAt !== undefined && Date.now() - firstHit >= options.minMs && Date.now() - finalizeFailedAt >= 5000) break;
        if (fleet.terminal) break;
        await sleep(500);
      }
      if (finalizeFailedAt === undefined) notes.push('the finalize job was not seen failing for good (no finalize-<batchId> job, or it kept retrying)');
      notes.push(`manifest writes failed for ${Math.round((Date.now() - firstHit) / 1000)} s (${fleet.proxy.counters.rules[rule] ?? 0} requests answered 503)`);
    } finally {
      remove();
    }
  });
}

async function waitForRuleHit(fleet: ChaosFleet, rule: string, timeoutMs: number): Promise<void> {
  await waitFor(
    () => {
      if ((fleet.proxy.counters.rules[rule] ?? 0) > 0) return true;
      if (fleet.terminal) throw new Error(`the batch ended before rule "${rule}" matched anything`);
      return false;
    },
    timeoutMs,
    `a request matching rule "${rule}"`,
  );
}

export interface UnreachableOptions {
  outageMs: number;
  mode: 'refuse' | 'blackhole';
  at?: number;
  settleMs: number;
  /** For outages longer than the storage retry window failures are allowed (they must be recorded). */
  transient: boolean;
  id: string;
}

/** 6: S3 unreachable (connections refused, or accepted and never answered) for a period mid-batch. */
export function s3Unreachable(world: ChaosWorld, options: UnreachableOptions): Promise<ScenarioResult> {
  const spec: Spec = {
    id: options.id,
    title: `S3 unreachable ${options.outageMs >= 60_000 ? `${options.outageMs / 60_000} min` : `${options.outageMs / 1000} s`} (${options.mode === 'refuse' ? 'refused' : 'blackholed'})`,
    transient: options.transient,
    settleMs: options.settleMs,
  };
  return runScenario(world, spec, async (fleet, notes) => {
    await midBatch(fleet, options.at ?? 0.3);
    const at = fleet.done();
    await fleet.proxy.unreachableFor(options.outageMs, options.mode);
    notes.push(`S3 unreachable from ${at} inputs finished; ${fleet.done()} finished when it came back`);
  });
}

export interface FinalAttemptKillOptions {
  kills: number;
  settleMs: number;
}

/**
 * 7: JOB_ATTEMPTS=1 (every attempt is the final one); the proxy holds a result PUT open, the worker
 * that sent it is SIGKILLed, the PUT released, a replacement started. Repeated at even progress steps.
 */
export function finalAttemptKill(world: ChaosWorld, options: FinalAttemptKillOptions): Promise<ScenarioResult> {
  const spec: Spec = {
    id: '7',
    title: `SIGKILL during final-attempt result PUT x${options.kills}`,
    transient: true,
    env: { JOB_ATTEMPTS: '1' },
    settleMs: options.settleMs,
  };
  return runScenario(world, spec, async (fleet, notes) => {
    let kills = 0;
    for (let k = 1; k <= options.kills; k++) {
      await fleet.waitForProgress(Math.ceil((k * fleet.total()) / (options.kills + 1)), 120_000);
      if (fleet.terminal) break;
      const rule = `hold result PUT ${k}`;
      const remove = fleet.proxy.addRule({ name: rule, methods: ['PUT'], path: /\.json(\?|$)/, action: 'hold', maxHits: 1 });
      try {
        await waitForRuleHit(fleet, rule, 60_000);
        const held = fleet.proxy.held().find((entry) => entry.rule === rule);
        if (!held) throw new Error('the held result PUT closed before the kill');
        const alive = fleet.alive();
        const ownerPid = pidOwningLocalPort(held.clientPort, alive.map((worker) => worker.child.pid!));
        const owner = alive.find((worker) => worker.child.pid === ownerPid);
        if (!owner) throw new Error(`no worker owns the held PUT's connection (client port ${held.clientPort})`);
        await fleet.kill(owner, 'SIGKILL');
        held.release('forward');
        kills++;
        notes.push(`kill ${k}: worker pid ${ownerPid} SIGKILLed holding PUT ${held.url.split('?')[0]} (at ${fleet.done()} inputs finished)`);
      } finally {
        remove();
      }
      fleet.startWorker();
    }
    if (kills < options.kills) notes.push(`${kills} of ${options.kills} kills done`);
    return kills;
  });
}

/**
 * 7b: JOB_ATTEMPTS=1; one input's result PUT (held, then reset) and every PUT of that key for the
 * next failMs fail: the final attempt's result write fails, and so does writing its failure. The
 * input must still end with exactly one outcome (ok: storage trouble is not the input's fault).
 */
export function finalAttemptWriteFailure(world: ChaosWorld, options: { inputs: number; failMs: number; settleMs: number }): Promise<ScenarioResult> {
  const spec: Spec = {
    id: '7b',
    title: `final-attempt result PUT failing ${options.failMs / 1000} s x${options.inputs}`,
    transient: true,
    env: { JOB_ATTEMPTS: '1' },
    settleMs: options.settleMs,
  };
  return runScenario(world, spec, async (fleet, notes) => {
    let faults = 0;
    for (let k = 1; k <= options.inputs; k++) {
      await fleet.waitForProgress(Math.ceil((k * fleet.total()) / (options.inputs + 1)), 120_000);
      if (fleet.terminal) break;
      const rule = `catch result PUT ${k}`;
      const removeHold = fleet.proxy.addRule({ name: rule, methods: ['PUT'], path: /\.json(\?|$)/, action: 'hold', maxHits: 1 });
      try {
        await waitForRuleHit(fleet, rule, 60_000);
      } finally {
        removeHold();
      }
      const held = fleet.proxy.held().find((entry) => entry.rule === rule);
      if (!held) throw new Error('the held result PUT closed before it was failed');
      const path = held.url.split('?')[0]!;
      const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      fleet.proxy.addRule({ name: `reset PUTs of ${path}`, methods: ['PUT'], path: new RegExp(`^${escaped}(\\?|$)`), action: 'reset', until: Date.now() + options.failMs });
      held.release('reset');
      faults++;
      notes.push(`input ${k}: PUT ${path} reset, and every PUT of it for ${options.failMs / 1000} s (at ${fleet.done()} inputs finished)`);
    }
    return faults;
  });
}
