import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildLlamaServer } from '@imagefleet/engine';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Where the tests find (or build) llama-server: ENGINE_CACHE_DIR, else the repo's data/engine. */
export function testEngineCacheDir(): string {
  return process.env.ENGINE_CACHE_DIR ?? `${repoRoot}data/engine`;
}

let built: Promise<string> | undefined;

/**
 * The real llama-server, built once from the bundled llama.cpp source with `engine build`'s code
 * (cached: `.ci/run` builds it before the tests; a cold cache takes ~10 minutes on 2 cores).
 */
export function llamaServerBinary(): Promise<string> {
  built ??= buildLlamaServer({ backend: 'cpu', cacheDir: testEngineCacheDir() }).then((build) => build.binary);
  return built;
}

/** Direct children of a process (from /proc), e.g. the llama-server a worker started. */
export function childPids(pid: number): number[] {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.flatMap((task) => {
    try {
      return readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

/** The command name of a process (/proc/<pid>/comm). */
export function commandName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The llama-server child of a worker process, if it runs one now. */
export function llamaServerChild(workerPid: number): number | undefined {
  return childPids(workerPid).find((pid) => commandName(pid) === 'llama-server');
}

/** Whether a process runs (a zombie, dead but not yet reaped, does not). */
export function processRuns(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
