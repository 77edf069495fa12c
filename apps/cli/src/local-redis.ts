import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { resolve } from 'node:path';
import { CliError } from './cli-error.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** True when something at host:port answers a Redis PING within the timeout. */
export async function redisAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host, port });
    const finish = (answer: boolean) => {
      socket.destroy();
      done(answer);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on('error', () => finish(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => finish(data.toString().startsWith('+PONG')));
  });
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export interface LocalRedis {
  url: string;
  /** Set when this process started redis-server itself. */
  child?: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The Redis for a single-machine run: REDIS_URL when set; else whatever answers on the default
 * port; else a redis-server child keeping its data (AOF) under dataDir.
 */
export async function ensureLocalRedis(env: NodeJS.ProcessEnv, dataDir = resolve('data/redis')): Promise<LocalRedis> {
  const noop = async () => undefined;
  if (env.REDIS_URL) return { url: env.REDIS_URL, stop: noop };
  if (await redisAnswers('127.0.0.1', 6379)) return { url: DEFAULT_REDIS_URL, stop: noop };
  if (!onPath('redis-server')) {
    throw new CliError('No Redis at 127.0.0.1:6379 and redis-server is not installed: install it (apt-get install redis-server) or set REDIS_URL');
  }
  mkdirSync(dataDir, { recursive: true });
  const child = spawn('redis-server', ['--port', '6379', '--bind', '127.0.0.1', '--dir', dataDir, '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction'], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  for (let waited = 0; waited < 10_000; waited += 100) {
    if (child.exitCode !== null) break;
    if (await redisAnswers('127.0.0.1', 6379)) {
      return {
        url: DEFAULT_REDIS_URL,
        child,
        async stop() {
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new CliError('redis-server was started but did not answer on 127.0.0.1:6379 within 10 s');
}
