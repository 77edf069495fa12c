// The fault suite's fleet: its own redis-server (AOF everysec, restartable on the same port and
// directory), the S3 fault proxy in front of the tests' S3, the producer and the workers as real
// `imagefleet` child processes, a status poller, and the manifest count at the end.
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, type WriteStream } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { BatchStatus, ResultLine } from '@imagefleet/core';
import { StoreRegistry } from '@imagefleet/storage';
import { ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { testEnv } from '../helpers/fleet.js';
import { syntheticPhoto } from '../helpers/images.js';
import { freePort, spawnLogged, stopProcess, waitFor } from '../helpers/processes.js';
import { spawnWorker, type LogLine, type WorkerProcess } from '../helpers/worker-process.js';
import { startRedisProcess, type RedisProcess } from '../helpers/redis-process.js';
import { startS3FaultProxy, type FaultProxy } from '../helpers/s3-fault-proxy.js';

const cli = fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url));
const FINISHED = new Set(['completed', 'completed_with_errors', 'cancelled']);
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Child processes and temp dirs of running fleets: SIGKILLed and removed if the runner exits without cleaning up. */
const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const running of children) running.kill('SIGKILL');
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
}
function track(child: ChildProcess): void {
  installExitHook();
  children.add(child);
  child.once('exit', () => children.delete(child));
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs fn(0..count-1) with at most `lanes` in flight. */
async function inParallel(count: number, lanes: number, fn: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, count) }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

/** What every scenario shares: the tests' S3 (no proxy in between), the source images, a log folder. */
export interface ChaosWorld {
  services: TestServices;
  /** Straight to S3, never through a proxy: uploads and the final count. */
  stores: StoreRegistry;
  bucket: string;
  prefix: string;
  /** Source keys, e.g. chaos/00042.jpg (as manifest lines name them). */
  inputs: string[];
  /** Child process logs go to <logRoot>/<scenario>/. */
  logRoot: string;
  /** Whether logRoot stays after close(). */
  keepsLogs: boolean;
  close(): Promise<void>;
}

export interface WorldOptions {
  images: number;
  width?: number;
  height?: number;
  /** Keep logs here (not removed); default: a temporary folder removed by close(). */
  logRoot?: string;
}

export async function prepareWorld(options: WorldOptions): Promise<ChaosWorld> {
  const services = await startServices();
  const stores = new StoreRegistry(services.s3);
  const logRoot = options.logRoot ?? mkdtempSync(join(tmpdir(), 'imagefleet-chaos-'));
  mkdirSync(logRoot, { recursive: true });
  const close = async () => {
    stores.close();
    await services.stop();
    if (!options.logRoot) rmSync(logRoot, { recursive: true, force: true });
  };
  try {
    await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
    const prefix = 'chaos/';
    const inputs = Array.from({ length: options.images }, (_, i) => `${prefix}${String(i).padStart(5, '0')}.jpg`);
    const photos = stores.open('s3://photos');
    await inParallel(inputs.length, 16, async (i) => photos.put(inputs[i]!, await syntheticPhoto(i, options.width ?? 96, options.height ?? 72)));
    return { services, stores, bucket: 'photos', prefix, inputs, logRoot, keepsLogs: options.logRoot !== undefined, close };
  } catch (error) {
    await close();
    throw error;
  }
}

export interface ManifestCount {
  /** True when manifest.jsonl exists; else the lines are the batch's result objects so far. */
  manifest: boolean;
  lines: number;
  ok: number;
  failed: number;
  missing: number;
  duplicate: number;
  /** Lines whose key is not an input, and lines that are not JSON. */
  extra: number;
  malformed: number;
  failureCodes: Record<string, number>;
}

/** Lines per key: missing = inputs without a line, duplicate = keys with more than one line. */
export function countLines(inputs: string[], lines: ResultLine[], malformed: number, manifest: boolean): ManifestCount {
  const perKey = new Map<string, number>();
  const failureCodes: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  for (const line of lines) {
    perKey.set(line.key, (perKey.get(line.key) ?? 0) + 1);
    if (line.status === 'ok') ok++;
    else {
      failed++;
      const code = line.error?.code ?? 'unknown';
      failureCodes[code] = (failureCodes[code] ?? 0) + 1;
    }
  }
  const inputSet = new Set(inputs);
  return {
    manifest,
    lines: lines.length,
    ok,
    failed,
    missing: inputs.filter((key) => !perKey.has(key)).length,
    duplicate: [...perKey.values()].filter((count) => count > 1).length,
    extra: [...perKey.keys()].filter((key) => !inputSet.has(key)).length,
    malformed,
    failureCodes,
  };
}

function parseLines(text: string): { lines: ResultLine[]; malformed: number } {
  const lines: ResultLine[] = [];
  let malformed = 0;
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    try {
      lines.push(JSON.parse(raw) as ResultLine);
    } catch {
      malformed++;
    }
  }
  return { lines, malformed };
}

/** The pid among `pids` that owns the TCP socket bound to 127.0.0.1:`port` (Linux /proc). */
export function pidOwningLocalPort(port: number, pids: number[]): number | undefined {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const row of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = row.trim().split(/\s+/);
      if (fields[1]?.endsWith(hexPort) && fields[9]) inodes.add(fields[9]);
    }
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match && inodes.has(match[1]!)) return pid;
      } catch {
        // the fd closed meanwhile
      }
    }
  }
  return undefined;
}

export interface ProducerProcess {
  child: ChildProcess & { output: () => string };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  logFile: string;
}

export interface FleetOptions {
  /** Scenario id: names the log folder and the batch id. */
  id: string;
  /** Fleet environment on top of the defaults below. */
  env?: Record<string, string>;
  proxySeed?: number;
}

/** Defaults that make the fleet fast without changing what a scenario does. */
const FAST_ENV: Record<string, string> = {
  JOB_LOCK_MS: '5000',
  STALLED_CHECK_MS: '2000',
  JOB_BACKOFF_MS: '200',
  SHUTDOWN_TIMEOUT_MS: '3000',
  WORKER_CONCURRENCY: '4',
  GPU_SAMPLE_MS: '0',
  QUEUE_SAMPLE_MS: '1000',
  ENGINE: 'none',
};

export class ChaosFleet {
  /** Every worker started, the killed ones included (their logs count too). */
  readonly workers: WorkerProcess[] = [];
  readonly producers: ProducerProcess[] = [];
  /** Pids this harness killed or stopped on purpose. */
  private readonly stoppedOnPurpose = new Set<number>();
  private readonly logStreams: WriteStream[] = [];
  batchId: string | undefined;
  submittedAt = 0;
  status: BatchStatus | undefined;
  statusError: string | undefined;
  terminalAt: number | undefined;
  private closing = false;
  private poller: Promise<void> = Promise.resolve();
  private redisClient: Redis | undefined;

  private constructor(
    readonly world: ChaosWorld,
    readonly id: string,
    readonly env: Record<string, string>,
    readonly redis: RedisProcess,
    readonly proxy: FaultProxy,
    readonly logDir: string,
    readonly apiPort: number,
  ) {}

  static async start(world: ChaosWorld, options: FleetOptions): Promise<ChaosFleet> {
    const logDir = join(world.logRoot, options.id);
    mkdirSync(logDir, { recursive: true });
    const proxyLog = createWriteStream(join(logDir, 's3-proxy.log'));
    const redis = await startRedisProcess();
    installExitHook();
    tempDirs.add(redis.dir);
    let proxy: FaultProxy;
    try {
      proxy = await startS3FaultProxy({
        upstream: world.services.s3.endpoint,
        seed: options.proxySeed ?? 1,
        onEvent: (event) => proxyLog.write(`${new Date(event.at).toISOString()} ${event.action} ${event.method} ${event.url}\n`),
      });
    } catch (error) {
      await redis.stop();
      throw error;
    }
    const env = {
      ...testEnv(world.services, FAST_ENV),
      ...options.env,
      REDIS_URL: redis.url,
      S3_ENDPOINT: proxy.endpoint,
      LOG_LEVEL: 'info',
    };
    const fleet = new ChaosFleet(world, options.id, env, redis, proxy, logDir, await freePort());
    fleet.logStreams.push(proxyLog);
    return fleet;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  private tee(child: ChildProcess, name: string): string {
    const file = join(this.logDir, `${name}.log`);
    const stream = createWriteStream(file);
    stream.on('error', () => undefined);
    this.logStreams.push(stream);
    child.stdout?.on('data', (chunk: Buffer) => stream.write(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stream.write(chunk));
    // 'close' comes after the last output (unlike 'exit').
    child.once('close', (code, signal) => stream.end(`# exited: code ${code} signal ${signal}\n`));
    return file;
  }

  startWorker(extraEnv: Record<string, string> = {}): WorkerProcess {
    const worker = spawnWorker({ ...this.env, ...extraEnv });
    track(worker.child);
    this.tee(worker.child, `worker-${this.workers.length + 1}-pid${worker.child.pid}`);
    this.workers.push(worker);
    return worker;
  }

  /** Starts `count` workers and waits until each logged "worker started". */
  async startWorkers(count: number, timeoutMs = 60_000): Promise<void> {
    const started = Array.from({ length: count }, () => this.startWorker());
    await waitFor(
      () => {
        const dead = started.find((worker) => worker.child.exitCode !== null);
        if (dead) throw new Error(`a worker exited at start: ${dead.child.output()}`);
        return started.every((worker) => worker.count('worker started') > 0);
      },
      timeoutMs,
      `${count} workers to start`,
    );
  }

  alive(): WorkerProcess[] {
    return this.workers.filter((worker) => worker.child.exitCode === null && worker.child.signalCode === null);
  }

  /** Alive workers that have logged "worker started". */
  ready(): WorkerProcess[] {
    return this.alive().filter((worker) => worker.count('worker started') > 0);
  }

  async kill(worker: WorkerProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.stoppedOnPurpose.add(worker.child.pid!);
    worker.child.kill(signal);
    await worker.exited;
  }

  async startProducer(timeoutMs = 30_000): Promise<ProducerProcess> {
    const child = spawnLogged(process.execPath, ['--enable-source-maps', cli, 'producer'], {
      ...process.env,
      ...this.env,
      HOST: '127.0.0.1',
      PORT: String(this.apiPort),
    });
    track(child);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const producer = { child, exited, logFile: this.tee(child, `producer-${this.producers.length + 1}-pid${child.pid}`) };
    this.producers.push(producer);
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`the producer exited at start: ${child.output()}`);
        const response = await fetch(`${this.apiUrl}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
        return response?.status === 200;
      },
      timeoutMs,
      'the producer API',
    );
    return producer;
  }

  async killProducer(producer: ProducerProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.stoppedOnPurpose.add(producer.child.pid!);
    producer.child.kill(signal);
    await producer.exited;
  }

  /** POST /v1/batches for the world's source (a few tries: the API may answer 5xx under faults). */
  async submit(batchId: string): Promise<string> {
    const body = { task: 'inspect', source: { s3: { bucket: this.world.bucket, prefix: this.world.prefix } }, batchId };
    let last = '';
    for (let attempt = 1; attempt <= 10; attempt++) {
      const response = await fetch(`${this.apiUrl}/v1/batches`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      }).catch((error: unknown) => ({ status: 0, text: async () => message(error) }));
      if (response.status === 202) {
        this.batchId = batchId;
        this.submittedAt = Date.now();
        this.poller = this.poll();
        return batchId;
      }
      last = `${response.status} ${await response.text()}`;
      await sleep(500);
    }
    throw new Error(`POST /v1/batches failed 10 times, last: ${last}`);
  }

  /** Polls GET /v1/batches/:id every 500 ms until close (bounded to 6 h). */
  private async poll(): Promise<void> {
    const stopAt = Date.now() + 6 * 3600_000;
    while (!this.closing && Date.now() < stopAt) {
      try {
        const response = await fetch(`${this.apiUrl}/v1/batches/${this.batchId}`, { signal: AbortSignal.timeout(2000) });
        if (response.status === 200) {
          this.status = (await response.json()) as BatchStatus;
          this.statusError = undefined;
          if (this.terminal && this.terminalAt === undefined) this.terminalAt = Date.now();
        } else this.statusError = `HTTP ${response.status}`;
      } catch (error) {
        this.statusError = message(error);
      }
      await sleep(500);
    }
  }

  get terminal(): boolean {
    return this.status !== undefined && FINISHED.has(this.status.state);
  }

  /** Inputs with an outcome, as the last status said. */
  done(): number {
    return this.status ? this.status.completed + this.status.failed : 0;
  }

  total(): number {
    return this.world.inputs.length;
  }

  /** Waits until at least n inputs have an outcome (or the batch ended). */
  async waitForProgress(n: number, timeoutMs: number): Promise<void> {
    await waitFor(() => this.done() >= n || this.terminal, timeoutMs, `${n} of ${this.total()} inputs to finish (last status ${JSON.stringify(this.status)})`);
  }

  /** Waits until the batch is in a terminal state or the deadline passes; never throws. */
  async waitForTerminal(deadline: number): Promise<void> {
    while (!this.terminal && Date.now() < deadline) await sleep(250);
  }

  /** A Redis client on the fleet's redis for occasional reads (a command fails rather than waits long). */
  private redisReader(): Redis {
    if (!this.redisClient) {
      this.redisClient = new Redis(this.redis.url, { maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: (times) => Math.min(times * 200, 1000) });
      this.redisClient.on('error', () => undefined);
    }
    return this.redisClient;
  }

  /** The finalize job's BullMQ hash, when it exists under today's id (finalize-<batchId>). */
  async finalizeJob(): Promise<{ failedReason?: string; finishedOn?: string; attemptsMade?: string } | undefined> {
    const key = `${this.env.QUEUE_PREFIX}:finalize:finalize-${this.batchId}`;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), 3000);
      });
      // BullMQ 5+ keeps attemptsMade as "atm" (older versions: "attemptsMade").
      const [finishedOn, failedReason, atm, attemptsMade] = await Promise.race([this.redisReader().hmget(key, 'finishedOn', 'failedReason', 'atm', 'attemptsMade'), timeout]);
      if (finishedOn === null && failedReason === null && atm === null && attemptsMade === null) return undefined;
      return { finishedOn: finishedOn ?? undefined, failedReason: failedReason ?? undefined, attemptsMade: atm ?? attemptsMade ?? undefined };
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Counts manifest.jsonl (or, without one, the batch's result objects) straight from S3. */
  async count(): Promise<ManifestCount> {
    const store = this.world.stores.open(this.env.RESULTS_URL!);
    const batchId = this.batchId!;
    const manifest = await store.get(`${batchId}/manifest.jsonl`, { maxBytes: 1e9 }).catch(() => undefined);
    if (manifest) {
      const { lines, malformed } = parseLines(manifest.toString('utf8'));
      return countLines(this.world.inputs, lines, malformed, true);
    }
    const keys: string[] = [];
    for await (const page of store.list(`${batchId}/`)) for (const info of page) if (info.key.endsWith('.json')) keys.push(info.key);
    const lines: ResultLine[] = [];
    let malformed = 0;
    await inParallel(keys.length, 16, async (i) => {
      const parsed = parseLines((await store.get(keys[i]!, { maxBytes: 1e8 })).toString('utf8'));
      lines.push(...parsed.lines);
      malformed += parsed.malformed;
    });
    return countLines(this.world.inputs, lines, malformed, false);
  }

  /** Log lines of every producer process, parsed from its log file. */
  producerLines(): LogLine[] {
    return this.producers.flatMap((producer) => {
      try {
        return parseLines(readFileSync(producer.logFile, 'utf8')).lines as unknown as LogLine[];
      } catch {
        return [];
      }
    });
  }

  /** Evidence for the report: warnings and errors by message, unexpected exits. */
  evidence(limit = 6): string[] {
    const notes: string[] = [];
    const workerLines = this.workers.flatMap((worker) => worker.lines);
    const tally = (lines: LogLine[], who: string) => {
      const counts = new Map<string, number>();
      for (const line of lines) {
        const level = Number(line.level ?? 0);
        if (level < 40) continue;
        const what = `${line.msg}${line.code ? ` [${line.code}]` : ''}`;
        counts.set(what, (counts.get(what) ?? 0) + 1);
      }
      for (const [what, count] of [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit)) notes.push(`${who} log: "${what}" x${count}`);
    };
    tally(workerLines, 'workers');
    tally(this.producerLines(), 'producer');
    const finished = workerLines.filter((line) => line.msg === 'batch finished').length;
    notes.push(`workers logged "batch finished" ${finished}x`);
    for (const worker of this.workers) {
      const { exitCode, signalCode, pid } = worker.child;
      if (pid !== undefined && !this.stoppedOnPurpose.has(pid) && (exitCode !== null || signalCode !== null) && exitCode !== 0) {
        const tail = worker.child.output().trim().split('\n').slice(-3).join(' | ').slice(0, 400);
        notes.push(`worker pid ${pid} exited by itself (code ${exitCode}, signal ${signalCode}): ${tail}`);
      }
    }
    return notes;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.poller;
    for (const worker of this.alive()) this.stoppedOnPurpose.add(worker.child.pid!);
    await Promise.all([
      ...this.workers.map((worker) => stopProcess(worker.child, 'SIGTERM', 10_000)),
      ...this.producers.map((producer) => stopProcess(producer.child, 'SIGTERM', 10_000)),
    ]);
    this.redisClient?.disconnect();
    await this.proxy.close();
    await this.redis.stop();
    tempDirs.delete(this.redis.dir);
    await Promise.all(this.logStreams.map((stream) => new Promise<void>((resolve) => (stream.writableFinished ? resolve() : stream.end(() => resolve())))));
  }
}
