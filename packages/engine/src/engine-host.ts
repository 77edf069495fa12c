import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ImagefleetError, type Logger } from '@imagefleet/core';
import type { HostAnalyzeResult, HostLoadOptions, HostMessage, ParentMessage } from './protocol.js';

const HOST_ENTRY = fileURLToPath(new URL('./host-main.js', import.meta.url));

export interface EngineHostOptions extends HostLoadOptions {
  /** Time allowed for loading the model. */
  loadTimeoutMs: number;
  /** First restart delay after a crash; doubles up to 30 s while crashes continue. */
  restartBackoffMs: number;
  logger: Logger;
  /** Extra environment for the child (test hooks). */
  env?: NodeJS.ProcessEnv;
}

export interface AnalyzeInput {
  imageJpeg: Buffer;
  prompt: string;
  schema: Record<string, unknown>;
  maxTokens: number;
  seed: number;
  /** The host is killed and restarted if this request takes longer. */
  deadlineMs: number;
}

/** What the worker needs from any vision engine: the in-process llama.cpp host or an HTTP server. */
export interface VisionEngine {
  readonly ready: boolean;
  readonly slots: number;
  /** Restarts after a crash, timeout or resize. */
  readonly restarts: number;
  analyze(input: AnalyzeInput): Promise<HostAnalyzeResult>;
  resize?(slots: number): Promise<void>;
  close(): Promise<void>;
}

export interface ModelDescription {
  name: string;
  parameters: number;
  sizeBytes: number;
  devices: string[];
}

interface Pending {
  resolve(result: HostAnalyzeResult): void;
  reject(error: ImagefleetError): void;
  timer: NodeJS.Timeout;
}

type State = 'stopped' | 'starting' | 'ready' | 'restarting' | 'closed';

/**
 * The worker's side of the engine host: forks the child, loads the model, sends requests with a
 * deadline each, and restarts the child with backoff when it dies. When the child dies, every
 * request in flight fails with a retryable error; the worker decides what that costs each job.
 */
export class EngineHost implements VisionEngine {
  private child: ChildProcess | undefined;
  private state: State = 'stopped';
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private consecutiveCrashes = 0;
  private stderrTail = '';
  private readyWaiters: { resolve(): void; reject(error: Error): void }[] = [];
  model: ModelDescription | undefined;
  restarts = 0;

  constructor(private options: EngineHostOptions) {}

  get ready(): boolean {
    return this.state === 'ready';
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get slots(): number {
    return this.options.slots;
  }

  /** Starts the child and loads the model; rejects with the binding's reason if it cannot. */
  async start(): Promise<ModelDescription> {
    this.state = 'starting';
    await this.spawn();
    return this.model!;
  }

  /** Restarts the host with a new slot count (after an out-of-memory error). */
  async resize(slots: number): Promise<void> {
    this.options = { ...this.options, slots };
    this.kill('resize');
  }

  async analyze(input: AnalyzeInput): Promise<HostAnalyzeResult> {
    await this.whenReady(input.deadlineMs);
    const id = this.nextId++;
    const message: ParentMessage = {
      type: 'analyze',
      request: { id, imageBase64: input.imageJpeg.toString('base64'), prompt: input.prompt, schema: input.schema, maxTokens: input.maxTokens, seed: input.seed },
    };
    return new Promise<HostAnalyzeResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.options.logger.warn({ deadlineMs: input.deadlineMs, pid: this.pid }, 'engine host missed a deadline; restarting it');
        this.fail(id, new ImagefleetError('engine_timeout', `The engine did not answer within ${input.deadlineMs} ms; the host was restarted`));
        this.kill('timeout');
      }, input.deadlineMs);
      this.pending.set(id, { resolve, reject, timer });
      this.child!.send(message);
    });
  }

  async close(): Promise<void> {
    this.state = 'closed';
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.send({ type: 'shutdown' } satisfies ParentMessage);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  private async whenReady(timeoutMs: number): Promise<void> {
    if (this.state === 'ready') return;
    if (this.state === 'closed') throw new ImagefleetError('engine_unavailable', 'The engine is shut down');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ImagefleetError('engine_restarted', `The engine was not ready within ${timeoutMs} ms`)), timeoutMs);
      this.readyWaiters.push({
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
    });
  }

  private spawn(): Promise<void> {
    const { logger } = this.options;
    const child = fork(HOST_ENTRY, [], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...this.options.env },
      serialization: 'json',
    });
    this.child = child;
    this.stderrTail = '';
    // llama.cpp logs to stdout/stderr; keep the tail for crash reports, never parse it.
    const keep = (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const { model, mmproj, slots, contextPerSlot, gpuLayers, threads, libVariant } = this.options;
    child.send({ type: 'load', options: { model, mmproj, slots, contextPerSlot, gpuLayers, threads, libVariant } } satisfies ParentMessage);

    return new Promise<void>((resolve, reject) => {
      const loadTimer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the model did not load within ${this.options.loadTimeoutMs} ms`));
      }, this.options.loadTimeoutMs);
      child.on('message', (message: HostMessage) => {
        switch (message.type) {
          case 'ready':
            clearTimeout(loadTimer);
            this.model = message.model;
            this.state = 'ready';
            logger.info({ pid: child.pid, model: message.model.name, slots: this.options.slots, contextPerSlot: this.options.contextPerSlot, devices: message.model.devices }, 'engine host ready');
            for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
            resolve();
            break;
          case 'load_failed':
            clearTimeout(loadTimer);
            child.kill('SIGKILL');
            reject(new Error(`the model could not be loaded: ${message.message}`));
            break;
          case 'result': {
            const entry = this.pending.get(message.result.id);
            if (!entry) break;
            clearTimeout(entry.timer);
            this.pending.delete(message.result.id);
            this.consecutiveCrashes = 0;
            entry.resolve(message.result);
            break;
          }
          case 'failed':
            this.fail(
              message.id,
              new ImagefleetError(message.outOfMemory ? 'engine_out_of_memory' : 'engine_crashed', `The engine failed on this input: ${message.message}`),
            );
            break;
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(loadTimer);
        if (this.child !== child) return;
        const wasStarting = this.state === 'starting';
        this.child = undefined;
        // Requests still in flight die with the host; the worker retries them.
        for (const id of [...this.pending.keys()]) {
          this.fail(id, new ImagefleetError('engine_crashed', `The engine host died (${signal ?? `exit ${code}`}) while this input was being analysed`));
        }
        if (this.state === 'closed') return;
        if (wasStarting) {
          reject(new Error(`the engine host exited while loading (${signal ?? `exit ${code}`}): ${this.stderrTail.split('\n').slice(-5).join(' | ')}`));
          return;
        }
        this.scheduleRestart(code, signal);
      });
    });
  }

  private scheduleRestart(code: number | null, signal: NodeJS.Signals | null): void {
    this.state = 'restarting';
    this.restarts += 1;
    this.consecutiveCrashes += 1;
    const delay = Math.min(this.options.restartBackoffMs * 2 ** (this.consecutiveCrashes - 1), 30_000);
    this.options.logger.warn({ code, signal, delayMs: delay, restarts: this.restarts }, 'engine host exited; restarting');
    setTimeout(() => {
      if (this.state === 'closed') return;
      this.state = 'starting';
      this.spawn().catch((error: Error) => {
        this.options.logger.error({ err: error.message }, 'engine host restart failed');
        if (this.state !== 'closed') this.scheduleRestart(null, null);
      });
    }, delay);
  }

  private fail(id: number, error: ImagefleetError): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(id);
    entry.reject(error);
  }

  private kill(reason: string): void {
    this.options.logger.info({ reason, pid: this.pid }, 'stopping engine host');
    this.child?.kill('SIGKILL');
  }
}
