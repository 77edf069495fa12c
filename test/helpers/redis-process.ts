import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, spawnLogged, stopProcess, waitFor } from './processes.js';

/**
 * A redis-server child process with AOF (appendfsync everysec by default) on a fixed port and
 * data directory, so that it can be shut down or SIGKILLed and started again with its data.
 */
export interface RedisProcess {
  port: number;
  url: string;
  dir: string;
  /** The current redis-server process, if running. */
  readonly running: boolean;
  /** Output of the current (or last) process, for error messages. */
  output(): string;
  /** Starts redis-server again on the same port and directory; resolves once it answers PING. */
  restart(): Promise<void>;
  /** SHUTDOWN (AOF flushed), then waits for the process to exit. */
  shutdown(): Promise<void>;
  /** Kills the process with a signal (default SIGKILL) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops it (SIGTERM) and removes the data directory when this helper made it. */
  stop(): Promise<void>;
}

export interface RedisProcessOptions {
  port?: number;
  /** Data directory; default: a new temporary one, removed by stop(). */
  dir?: string;
  appendfsync?: 'always' | 'everysec' | 'no';
  /** AOF on (default); off for a throwaway server (benchmarks). */
  appendonly?: boolean;
  /** How long to wait for PING after a start; default 20 s. */
  startTimeoutMs?: number;
}

async function answersPing(port: number): Promise<boolean> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    // While the AOF loads, PING answers -LOADING: not ready yet.
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export async function startRedisProcess(options: RedisProcessOptions = {}): Promise<RedisProcess> {
  const port = options.port ?? (await freePort());
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'imagefleet-redis-'));
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--appendonly', options.appendonly === false ? 'no' : 'yes',
    '--appendfsync', options.appendfsync ?? 'everysec',
    '--save', '',
    '--maxmemory-policy', 'noeviction',
  ];
  let child: ReturnType<typeof spawnLogged> | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    const server = spawnLogged('redis-server', args);
    child = server;
    exited = new Promise((resolve) => server.once('exit', () => resolve()));
    await waitFor(
      async () => {
        if (server.exitCode !== null || server.signalCode !== null) throw new Error(`redis-server exited: ${server.output()}`);
        return answersPing(port);
      },
      options.startTimeoutMs ?? 20_000,
      `redis-server on port ${port}`,
    );
  };

  const isRunning = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get running() {
      return isRunning();
    },
    output: () => child?.output() ?? '',
    async restart() {
      if (isRunning()) throw new Error('redis-server is still running');
      await start();
    },
    async shutdown() {
      if (!isRunning()) return;
      const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => undefined);
      try {
        await client.connect();
        // The connection closes as the server exits: the reply never comes.
        await client.call('SHUTDOWN').catch(() => undefined);
      } finally {
        client.disconnect();
      }
      const timer = setTimeout(() => child?.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
    async kill(signal = 'SIGKILL') {
      if (!isRunning()) return;
      child!.kill(signal);
      await exited;
    },
    async stop() {
      if (child && isRunning()) await stopProcess(child);
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
