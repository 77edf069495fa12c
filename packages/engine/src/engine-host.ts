import { fork, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImagefleetError, type Logger } from '@imagefleet/core';
import type { HostAnalyzeRequest, HostLoadOptions, HostMessage, ParentMessage } from './protocol.js';
import type { AnalyzeInput, EngineAnswer, VisionEngine } from './vision-engine.js';

const HOST_ENTRY = fileURLToPath(new URL('./host-main.js', import.meta.url));

/** An error raised inside the engine host process, rebuilt here with the host's stack (the cause of what the worker reports). */
export class EngineHostError extends Error {
  override name = 'EngineHostError';

  constructor(message: string, hostStack: string | undefined) {
    super(message);
    if (hostStack) this.stack = `${hostStack}\n    (in the engine host process)`;
  }
}

export interface EngineHostOptions extends HostLoadOptions {
  /** Time allowed for loading the model. */
  loadTimeoutMs: number;
  /** First restart delay after a crash; doubles up to 30 s while crashes continue. */
  restartBackoffMs: number;
  logger: Logger;
  /** Extra environment for the child (test hooks). */
  env?: NodeJS.ProcessEnv;
}

export interface ModelDescription {
  name: string;
  parameters: number;
  sizeBytes: number;
  devices: string[];
}

/** What the host did with a request: answered it, or declined it because it had already failed. */
type Reply = { answer: EngineAnswer } | { declined: true };

interface Pending {
  resolve(reply: Reply): void;
  reject(error: ImagefleetError): void;
  timer: NodeJS.Timeout;
}

/**
 * `failing`: the host reported a failed request (or its channel closed) and is exiting; it gets no
 * new requests, which wait for the restarted host instead.
 */
type State = 'stopped' | 'starting' | 'ready' | 'failing' | 'restarting' | 'closed';

/** How long a host that reported a failure may take to exit before it is killed. */
const FAILING_EXIT_GRACE_MS = 5000;

/**
 * The worker's side of the engine host: forks the child, loads the model, sends requests with a
 * deadline each, and restarts the child with backoff when it dies. When the child dies, every
 * request in flight fails with a retryable error; the worker decides what that costs each job.
 * No failure of the child may end the worker: every send reports errors to its own request, and a
 * child that reported a failure (it exits next) gets no new requests: they wait for its successor.
 */
export class EngineHost implements VisionEngine {
  private child: ChildProcess | undefined;
  private state: State = 'stopped';
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private consecutiveCrashes = 0;
  private stderrTail = '';
  private readyWaiters: { resolve(): void; reject(error: Error): void }[] = [];
  readonly kind = 'llama';
  model: ModelDescription | undefined;
  restarts = 0;

  constructor(private options: EngineHostOptions) {}

  get ready(): boolean {
    return this.state === 'ready';
  }

  get modelName(): string {
    return basename(this.options.model);
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

  async analyze(input: AnalyzeInput): Promise<EngineAnswer> {
    for (;;) {
      await this.whenReady(input.deadlineMs);
      const child = this.child;
      if (this.state !== 'ready' || !child) continue;
      const reply = await this.send(child, input);
      if ('answer' in reply) return reply.answer;
      // The host had failed before it saw this request, so it never started it: the request waits
      // for the restarted host instead of being charged for another input's crash.
    }
  }

  async close(): Promise<void> {
    this.state = 'closed';
    for (const waiter of this.readyWaiters.splice(0)) waiter.reject(new ImagefleetError('engine_unavailable', 'The engine is shut down'));
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    this.post(child, { type: 'shutdown' }, () => child.kill('SIGKILL'));
    await exited;
    clearTimeout(timer);
  }

  private async whenReady(timeoutMs: number): Promise<void> {
    if (this.state === 'ready' && this.child) return;
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
      // Structured clone instead of JSON: image bytes cross as binary, not as base64 text.
      serialization: 'advanced',
    });
    this.child = child;
    // Sends report their own errors (see post); this listener keeps any other ChildProcess error
    // (a failed kill, a failed spawn) from becoming an uncaught exception in the worker.
    child.on('error', (error) => {
      logger.warn({ err: error, pid: child.pid }, 'engine host process error');
      this.markFailing(child);
    });
    child.on('disconnect', () => this.markFailing(child));
    this.stderrTail = '';
    // llama.cpp logs to stdout/stderr; keep the tail for crash reports, never parse it.
    const keep = (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const { model, mmproj, slots, contextPerSlot, gpuLayers, threads, libVariant } = this.options;
    // If the load cannot even be sent, the host is killed and 'exit' below reports it.
    this.post(child, { type: 'load', options: { model, mmproj, slots, contextPerSlot, gpuLayers, threads, libVariant } }, () => child.kill('SIGKILL'));

    /** Set when this host reported a failed request: what it had started then. */
    let failure: { started: Set<number>; outOfMemory: boolean } | undefined;

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
            reject(new Error(`the model could not be loaded: ${message.message}`, { cause: new EngineHostError(message.message, message.stack) }));
            break;
          case 'result': {
            const entry = this.pending.get(message.result.id);
            if (!entry) break;
            clearTimeout(entry.timer);
            this.pending.delete(message.result.id);
            this.consecutiveCrashes = 0;
            const { id: _id, ...answer } = message.result;
            entry.resolve({ answer });
            break;
          }
          case 'failed':
            // The host exits next: from now on requests wait for its successor.
            this.markFailing(child);
            if (message.rejected) {
              // llama.cpp refused this request's schema: it fails alone (permanent, charged no
              // crash), and the requests in flight with it go to the successor, charged nothing.
              failure = { started: new Set(), outOfMemory: false };
              this.fail(message.id, new ImagefleetError('engine_rejected', `The engine refused this request: ${message.message}`, { cause: new EngineHostError(message.message, message.stack) }));
              break;
            }
            failure = { started: new Set(message.started), outOfMemory: message.outOfMemory };
            this.fail(
              message.id,
              new ImagefleetError(message.outOfMemory ? 'engine_out_of_memory' : 'engine_crashed', `The engine failed on this input: ${message.message}`, {
                cause: new EngineHostError(message.message, message.stack),
              }),
            );
            break;
          case 'declined': {
            const entry = this.pending.get(message.id);
            if (!entry) break;
            clearTimeout(entry.timer);
            this.pending.delete(message.id);
            entry.resolve({ declined: true });
            break;
          }
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(loadTimer);
        if (this.child !== child) return;
        const wasStarting = this.state === 'starting';
        this.child = undefined;
        // Requests still in flight die with the host; the worker retries them. After a reported
        // failure the host said which ones it had started: the others (sent while its failure
        // was on the way, never started) go to its successor, charged nothing; and when the failure
        // was out of memory, the ones in flight with it are out-of-memory victims, not crash suspects.
        for (const [id, entry] of [...this.pending]) {
          if (failure && !failure.started.has(id)) {
            clearTimeout(entry.timer);
            this.pending.delete(id);
            entry.resolve({ declined: true });
          } else if (failure?.outOfMemory) {
            this.fail(id, new ImagefleetError('engine_out_of_memory', `The engine ran out of memory (${signal ?? `exit ${code}`}) while this input was being analysed`));
          } else {
            this.fail(id, new ImagefleetError('engine_crashed', `The engine host died (${signal ?? `exit ${code}`}) while this input was being analysed`));
          }
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
        this.options.logger.error({ err: error }, 'engine host restart failed');
        if (this.state !== 'closed') this.scheduleRestart(null, null);
      });
    }, delay);
  }

  /** Hands one request to the host, with its deadline; resolves with the host's reply. */
  private send(child: ChildProcess, input: AnalyzeInput): Promise<Reply> {
    const id = this.nextId++;
    const request: HostAnalyzeRequest = { id, image: input.imageJpeg, prompt: input.prompt, schema: input.schema, maxTokens: input.maxTokens, seed: input.seed };
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.options.logger.warn({ deadlineMs: input.deadlineMs, pid: child.pid }, 'engine host missed a deadline; restarting it');
        this.fail(id, new ImagefleetError('engine_timeout', `The engine did not answer within ${input.deadlineMs} ms; the host was restarted`));
        if (this.child === child) this.kill('timeout');
      }, input.deadlineMs);
      this.pending.set(id, { resolve, reject, timer });
      this.post(child, { type: 'analyze', request }, (error) => {
        this.fail(id, new ImagefleetError('engine_crashed', `The engine host could not take this input: ${error.message}`, { cause: error }));
      });
    });
  }

  /**
   * Sends a message so that a closed channel never reaches the ChildProcess 'error' event (which,
   * unhandled, would end the worker): the error goes to onError, and the host counts as failing.
   */
  private post(child: ChildProcess, message: ParentMessage, onError: (error: Error) => void): void {
    const failed = (error: Error) => {
      this.options.logger.warn({ err: error, pid: child.pid, message: message.type }, 'could not send to the engine host');
      this.markFailing(child);
      onError(error);
    };
    if (!child.connected) {
      failed(new Error('the IPC channel to the engine host is closed'));
      return;
    }
    try {
      child.send(message, (error: Error | null) => {
        if (error) failed(error);
      });
    } catch (error) {
      // Serialization errors are thrown synchronously.
      failed(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** The ready host is going away: new requests wait for the next one instead of being sent to it. */
  private markFailing(child: ChildProcess): void {
    if (this.child !== child || this.state !== 'ready') return;
    this.state = 'failing';
    // It exits by itself right after reporting a failure; one that does not is killed.
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, FAILING_EXIT_GRACE_MS);
    timer.unref();
    child.once('exit', () => clearTimeout(timer));
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
    if (!this.child) return;
    this.markFailing(this.child);
    this.child.kill('SIGKILL');
  }
}
