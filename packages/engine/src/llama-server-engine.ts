import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { createServer } from 'node:net';
import { ImagefleetError, type Logger } from '@imagefleet/core';
import { ChatClient } from './chat-client.js';
import { OUT_OF_MEMORY } from './out-of-memory.js';
import { EngineStartError, type AnalyzeInput, type EngineAnswer, type EngineStats, type ModelLaunch, type VisionEngine } from './vision-engine.js';

export interface LlamaServerEngineOptions extends ModelLaunch {
  binary: string;
  loadTimeoutMs: number;
  /** First restart delay after a crash; doubles up to 30 s while crashes continue. */
  restartBackoffMs: number;
  logger: Logger;
  /** More llama-server arguments (tests start one without the projector this way). */
  extraArgs?: string[];
  /** Leave out --mmproj (only to prove the start check refuses such a server). */
  withoutProjector?: boolean;
  /** Told when the server could not allocate its slots at load and runs with fewer. */
  onSlotsLowered?(slots: number): void;
}

interface InFlight {
  controller: AbortController;
}

type State = 'starting' | 'ready' | 'restarting' | 'closed';

const SETPRIV = '/usr/bin/setpriv';

/**
 * On the CPU, llama.cpp's threads spin between graph steps by default (--poll 50). On a host
 * whose cores the fleet shares (image preparation, S3, Redis), a spinning thread that loses its
 * core stalls the other threads at the next barrier; sleeping instead (--poll 0) measured faster
 * for the fleet and for llama-server alone (README, Vision engine).
 */
export function cpuThreadArgs(gpuLayers: number): string[] {
  return gpuLayers === 0 ? ['--poll', '0'] : [];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * ENGINE=server: llama-server as the worker's supervised engine child process, on a free loopback
 * port. A crash, a missed deadline or a resize kills and restarts it with backoff; requests in
 * flight then fail as engine_crashed (or engine_out_of_memory when its output says so), and new
 * requests wait for the restarted server instead of being sent to the dying one.
 */
export class LlamaServerEngine implements VisionEngine {
  readonly kind = 'server';
  private child: ChildProcess | undefined;
  private state: State = 'starting';
  private client: ChatClient | undefined;
  private readonly inFlight = new Set<InFlight>();
  private outputTail = '';
  private consecutiveCrashes = 0;
  private readyWaiters: (() => void)[] = [];
  private exited: Promise<string> = Promise.resolve('not started');
  restarts = 0;

  constructor(private options: LlamaServerEngineOptions) {}

  get ready(): boolean {
    return this.state === 'ready';
  }

  get slots(): number {
    return this.options.slots;
  }

  get modelName(): string {
    return basename(this.options.model);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string | undefined {
    return this.client?.rootUrl;
  }

  /** Starts the server and checks it can serve our tasks; rejects with one line when it cannot. */
  async start(): Promise<void> {
    try {
      accessSync(this.options.binary, constants.X_OK);
    } catch {
      throw new EngineStartError(`llama-server not found or not executable: ${this.options.binary} (run \`imagefleet engine build\` or fix LLAMA_SERVER_BIN)`);
    }
    await this.spawnHalvingOnOutOfMemory();
    const capabilities = await this.client!.capabilities();
    if (capabilities.vision === false) {
      throw new EngineStartError(`llama-server reports no vision modality for ${this.modelName} (was it started without --mmproj ${basename(this.options.mmproj)}?)`);
    }
    if (capabilities.contextPerSlot !== undefined && capabilities.contextPerSlot < this.options.contextPerSlot) {
      throw new EngineStartError(`llama-server gives each slot ${capabilities.contextPerSlot} tokens of context; the tasks need ${this.options.contextPerSlot} (check the server's -c and -np)`);
    }
  }

  async resize(slots: number): Promise<void> {
    this.options = { ...this.options, slots };
    this.kill('resize');
  }

  async analyze(input: AnalyzeInput): Promise<EngineAnswer> {
    await this.whenReady(input.deadlineMs);
    const entry: InFlight = { controller: new AbortController() };
    const timer = setTimeout(() => {
      this.options.logger.warn({ deadlineMs: input.deadlineMs, pid: this.pid }, 'llama-server missed a deadline; restarting it');
      entry.controller.abort(new ImagefleetError('engine_timeout', `The engine did not answer within ${input.deadlineMs} ms; llama-server was restarted`));
      this.kill('timeout');
    }, input.deadlineMs);
    this.inFlight.add(entry);
    try {
      return await this.client!.complete(input, entry.controller.signal);
    } catch (error) {
      // A dying server drops the connection a moment before its exit is seen: wait for that.
      if (error instanceof ImagefleetError && error.code === 'engine_unreachable' && !entry.controller.signal.aborted) await this.exitOrTimeout(2000);
      // The reason we aborted with (crash, OOM, deadline) says more than fetch's error.
      const reason: unknown = entry.controller.signal.reason;
      throw reason instanceof ImagefleetError ? reason : error;
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(entry);
    }
  }

  /** KV-cache use of the requests in flight, from llama-server's /slots. */
  async stats(): Promise<EngineStats> {
    if (!this.client || this.state !== 'ready') return {};
    const slots = await this.client.getJson<{ n_ctx?: number; is_processing?: boolean; n_prompt_tokens?: number; next_token?: { n_decoded?: number }[] }[]>(`${this.client.rootUrl}/slots`, 1000);
    if (!Array.isArray(slots) || slots.length === 0) return {};
    const total = slots.reduce((sum, slot) => sum + (slot.n_ctx ?? 0), 0);
    const used = slots.reduce((sum, slot) => sum + (slot.is_processing ? (slot.n_prompt_tokens ?? 0) + (slot.next_token?.[0]?.n_decoded ?? 0) : 0), 0);
    return total > 0 ? { kvCacheUsageRatio: used / total } : {};
  }

  async close(): Promise<void> {
    this.state = 'closed';
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  private arguments(port: number): string[] {
    const { model, mmproj, slots, contextPerSlot, gpuLayers, threads } = this.options;
    return [
      '--model', model,
      ...(this.options.withoutProjector ? [] : ['--mmproj', mmproj]),
      '--parallel', String(slots),
      '--ctx-size', String(slots * contextPerSlot),
      '--n-gpu-layers', String(gpuLayers),
      '--threads', String(threads),
      '--host', '127.0.0.1',
      '--port', String(port),
      '--no-webui',
      // Every slot keeps its own context, so one long answer never starves the others.
      '--no-kv-unified',
      ...cpuThreadArgs(gpuLayers),
      ...(this.options.extraArgs ?? []),
    ];
  }

  private async whenReady(timeoutMs: number): Promise<void> {
    if (this.state === 'ready') return;
    if (this.state === 'closed') throw new ImagefleetError('engine_unavailable', 'The engine is shut down');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((waiter) => waiter !== done);
        reject(new ImagefleetError('engine_restarted', `The engine was not ready within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => (clearTimeout(timer), resolve());
      this.readyWaiters.push(done);
    });
  }

  private async spawn(): Promise<void> {
    const { logger } = this.options;
    const port = await freePort();
    // setpriv (util-linux) makes the kernel kill the server when this process dies, even by
    // SIGKILL, so a crashed worker never leaves a server holding the GPU's memory.
    const [command, args] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', this.options.binary, ...this.arguments(port)]] : [this.options.binary, this.arguments(port)];
    // Its own process group: a Ctrl-C in the worker's terminal must not kill the server under the
    // jobs that the worker is still finishing; the worker closes it when they are done.
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    this.outputTail = '';
    this.client = new ChatClient({ baseUrl: `http://127.0.0.1:${port}/v1` });
    // llama-server logs to stderr; keep the tail for crash reports and OOM detection, never parse it otherwise.
    const keep = (chunk: Buffer) => {
      this.outputTail = (this.outputTail + chunk.toString()).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<string>((resolve) => {
      child.on('error', (error) => resolve(`could not be started: ${error.message}`));
      child.on('exit', (code, signal) => resolve(signal ?? `exit ${code}`));
    });
    void exited.then((how) => this.onExit(child, how));
    this.exited = exited;

    const deadline = Date.now() + this.options.loadTimeoutMs;
    let dead: string | undefined;
    void exited.then((how) => (dead = how));
    while (!(await this.client.healthy(1000))) {
      if (dead !== undefined) throw new Error(`llama-server exited while loading (${dead}): ${this.tail(6)}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`llama-server did not load the model within ${this.options.loadTimeoutMs} ms: ${this.tail(3)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    this.state = 'ready';
    logger.info({ pid: child.pid, port, model: this.modelName, slots: this.options.slots, contextPerSlot: this.options.contextPerSlot }, 'llama-server ready');
    for (const waiter of this.readyWaiters.splice(0)) waiter();
  }

  /** A server that cannot allocate its slots at load gets half of them, down to one. */
  private async spawnHalvingOnOutOfMemory(): Promise<void> {
    for (;;) {
      try {
        return await this.spawn();
      } catch (error) {
        if (!OUT_OF_MEMORY.test(this.outputTail) || this.options.slots <= 1) throw error;
        const slots = Math.floor(this.options.slots / 2);
        this.options.logger.warn({ err: error, slots }, 'llama-server ran out of memory while loading; halving its slots');
        this.options = { ...this.options, slots };
        this.options.onSlotsLowered?.(slots);
      }
    }
  }

  private async exitOrTimeout(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  private tail(lines: number): string {
    return this.outputTail.trim().split('\n').slice(-lines).join(' | ');
  }

  private onExit(child: ChildProcess, how: string): void {
    if (this.child !== child) return;
    const wasLoading = this.state === 'starting';
    this.child = undefined;
    const outOfMemory = OUT_OF_MEMORY.test(this.outputTail);
    const failure = outOfMemory
      ? new ImagefleetError('engine_out_of_memory', `llama-server ran out of memory (${how}): ${this.tail(2)}`)
      : new ImagefleetError('engine_crashed', `llama-server died (${how}) while this input was being analysed`);
    for (const entry of this.inFlight) if (!entry.controller.signal.aborted) entry.controller.abort(failure);
    // A server that dies while loading is reported by spawn(); one that served gets restarted.
    if (this.state === 'closed' || wasLoading) return;
    this.scheduleRestart(how);
  }

  private scheduleRestart(how: string): void {
    this.state = 'restarting';
    this.restarts += 1;
    this.consecutiveCrashes += 1;
    const delay = Math.min(this.options.restartBackoffMs * 2 ** (this.consecutiveCrashes - 1), 30_000);
    this.options.logger.warn({ how, delayMs: delay, restarts: this.restarts, output: this.tail(3) }, 'llama-server exited; restarting');
    setTimeout(() => {
      if (this.state === 'closed') return;
      this.state = 'starting';
      this.spawnHalvingOnOutOfMemory().then(
        () => (this.consecutiveCrashes = 0),
        (error: Error) => {
          this.options.logger.error({ err: error }, 'llama-server restart failed');
          if (this.state !== 'closed') this.scheduleRestart('restart failed');
        },
      );
    }, delay);
  }

  private kill(reason: string): void {
    this.options.logger.info({ reason, pid: this.pid }, 'stopping llama-server');
    if (this.state === 'ready') this.state = 'restarting';
    this.child?.kill('SIGKILL');
  }
}
