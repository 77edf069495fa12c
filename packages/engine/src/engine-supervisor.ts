import { ImagefleetError, toImagefleetError, type Logger } from '@imagefleet/core';
import type { EnginePlan } from './planner.js';
import { SlotGate } from './slot-gate.js';
import type { AnalyzeInput, EngineAnswer, VisionEngine } from './vision-engine.js';

/** A job's engine-crash record: how often it was in flight when the engine died, and how to save a new count. */
export interface CrashRecord {
  previous: number;
  save(crashes: number): Promise<void>;
}

export interface EngineSupervisorOptions {
  /** Slots the planner gave (or ENGINE_SLOTS, or the server's). */
  plannedSlots: number;
  /** Crashes one input may be charged before it fails with engine_crashed_repeatedly. */
  maxCrashes: number;
  /** After a crash, one job at a time for this long. */
  probationMs: number;
  /** The memory plan behind plannedSlots (local engines). */
  plan?: EnginePlan;
  logger: Logger;
}

/**
 * The one place engine policy lives, for every engine (llama.node host, managed llama-server,
 * external server):
 * - the slot gate: at most `allowed` requests reach the engine; the worker holds more jobs so
 *   downloads and preparation overlap inference;
 * - crash charging: a crash or missed deadline is charged to every job in flight; a job charged
 *   `maxCrashes` times is the likely culprit and fails for good;
 * - probation: after a crash, one job at a time for a while, so a poisoned input crashes the
 *   engine alone the next time and innocent jobs stop being charged with it;
 * - out of memory: halves the slots and restarts the engine once per event, charging nobody;
 * - counters for /metrics.
 */
export class EngineSupervisor {
  readonly gate: SlotGate;
  readonly plannedSlots: number;
  /** Slots to return to after probation: the planned count, lowered by out-of-memory back-offs. */
  private targetSlots: number;
  private probationTimer: NodeJS.Timeout | undefined;
  oomBackoffs = 0;
  readonly tokens = { prompt: 0, completion: 0 };
  /** Requests that reached the engine (through the gate), answered or not. */
  requests = 0;

  constructor(
    readonly engine: VisionEngine,
    private readonly options: EngineSupervisorOptions,
  ) {
    this.plannedSlots = options.plannedSlots;
    this.targetSlots = options.plannedSlots;
    this.gate = new SlotGate(options.plannedSlots);
  }

  get ready(): boolean {
    return this.engine.ready;
  }

  get plan(): EnginePlan | undefined {
    return this.options.plan;
  }

  get modelName(): string {
    return this.engine.modelName;
  }

  /** Runs one request through the gate; a failure comes back judged (see the class comment). */
  async analyze(input: AnalyzeInput, crashes: CrashRecord): Promise<EngineAnswer> {
    let slotsAtSend = this.engine.slots;
    try {
      const answer = await this.gate.run(() => {
        slotsAtSend = this.engine.slots;
        this.requests += 1;
        return this.engine.analyze(input);
      });
      this.tokens.prompt += answer.promptTokens;
      this.tokens.completion += answer.completionTokens;
      return answer;
    } catch (thrown) {
      throw await this.judge(toImagefleetError(thrown), crashes, slotsAtSend);
    }
  }

  /** The engine had to start with fewer slots than planned (it could not allocate them). */
  slotsLowered(slots: number): void {
    this.oomBackoffs += 1;
    this.setTarget(slots);
  }

  close(): Promise<void> {
    clearTimeout(this.probationTimer);
    return this.engine.close();
  }

  private async judge(error: ImagefleetError, crashes: CrashRecord, slotsAtSend: number): Promise<ImagefleetError> {
    if (error.code === 'engine_out_of_memory') {
      await this.backOff(slotsAtSend);
      return error;
    }
    if (error.code !== 'engine_crashed' && error.code !== 'engine_timeout') return error;
    this.startProbation();
    const count = crashes.previous + 1;
    await crashes.save(count);
    if (count < this.options.maxCrashes) return error;
    return new ImagefleetError('engine_crashed_repeatedly', `The engine crashed ${count} times while analysing this input (last: ${error.message})`, { cause: error });
  }

  /** Halves the slots once per out-of-memory event: every request in flight reports the same one. */
  private async backOff(slotsAtSend: number): Promise<void> {
    if (!this.engine.resize || this.engine.slots < slotsAtSend) return;
    const slots = Math.max(1, Math.floor(slotsAtSend / 2));
    this.options.logger.warn({ slots, was: slotsAtSend }, 'engine out of memory: halving slots and restarting it');
    this.oomBackoffs += 1;
    this.setTarget(slots);
    await this.engine.resize(slots);
  }

  private setTarget(slots: number): void {
    this.targetSlots = slots;
    if (!this.probationTimer) this.gate.setCapacity(slots);
  }

  private startProbation(): void {
    this.gate.setCapacity(1);
    clearTimeout(this.probationTimer);
    this.probationTimer = setTimeout(() => {
      this.probationTimer = undefined;
      this.gate.setCapacity(this.targetSlots);
    }, this.options.probationMs);
    this.probationTimer.unref();
  }
}
