import { fileURLToPath } from 'node:url';
import { spawnLogged } from './processes.js';

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
  const child = spawnLogged(process.execPath, ['--enable-source-maps', cli, command], { ...process.env, ...env, LOG_LEVEL: 'info' });
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
