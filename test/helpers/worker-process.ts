import { fileURLToPath } from 'node:url';
import type { BatchStatus } from '@imagefleet/core';
import { spawnLogged, waitFor } from './processes.js';

const cli = fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url));

export interface LogLine {
  msg: string;
  jobId?: string;
  batchId?: string;
  key?: string;
  code?: string;
  [field: string]: unknown;
}

/** `imagefleet <command>` as a real child process; its JSON log lines are parsed as they arrive. */
export function spawnFleetProcess(command: 'worker' | 'producer', env: Record<string, string>) {
  // FLEET_NODE_ARGS (space-separated) adds node flags to fleet processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` for a bench.
  const nodeArgs = process.env.FLEET_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawnLogged(process.execPath, ['--enable-source-maps', ...nodeArgs, cli, command], { ...process.env, ...env, LOG_LEVEL: 'info' });
  const lines: LogLine[] = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    let newline;
    while ((newline = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, newline);
      partial = partial.slice(newline + 1);
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        // the binding or node may print plain lines; keep only JSON
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    lines,
    exited,
    count: (msg: string) => lines.filter((line) => line.msg === msg).length,
  };
}

export const spawnWorker = (env: Record<string, string>) => spawnFleetProcess('worker', env);

export type WorkerProcess = ReturnType<typeof spawnWorker>;

/** `imagefleet producer` as a child process (a producer a test can SIGKILL); resolves once it listens. */
export async function spawnProducer(env: Record<string, string>) {
  const { child, lines, exited } = spawnFleetProcess('producer', { ...env, HOST: '127.0.0.1', PORT: '0' });
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`the producer exited: ${child.output()}`);
    return lines.some((line) => line.msg === 'producer listening');
  }, 30_000, 'the producer to listen');
  const url = lines.find((line) => line.msg === 'producer listening')!.url as string;
  return {
    child,
    exited,
    url,
    /** POST /v1/batches; returns the batch id (throws unless 202). */
    async submit(body: Record<string, unknown>): Promise<string> {
      const response = await fetch(`${url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
      const answer = await response.text();
      if (response.status !== 202) throw new Error(`POST /v1/batches answered ${response.status}: ${answer}`);
      return (JSON.parse(answer) as { batchId: string }).batchId;
    },
    async status(batchId: string): Promise<BatchStatus> {
      const response = await fetch(`${url}/v1/batches/${batchId}`, { signal: AbortSignal.timeout(5000) });
      if (response.status !== 200) throw new Error(`status ${response.status}: ${await response.text()}`);
      return (await response.json()) as BatchStatus;
    },
  };
}

export type ProducerProcess = Awaited<ReturnType<typeof spawnProducer>>;
