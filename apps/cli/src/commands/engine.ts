import { loadConfig } from '@imagefleet/core';
import { ServerBuildError, buildLlamaServer, serverBackends, type ServerBackend, type ServerBuildProgress } from '@imagefleet/engine';
import { CliError, ExitCode } from '../cli-error.js';
import { formatSeconds } from '../progress.js';

function progressText({ phase, fraction, elapsedMs }: ServerBuildProgress): string {
  const done = fraction === undefined ? phase : `${phase} ${(fraction * 100).toFixed(0)}%`;
  return `building llama-server: ${done}, ${formatSeconds(elapsedMs / 1000)} elapsed`;
}

/** `imagefleet engine build [--backend cpu|cuda|vulkan] [--cuda-arch LIST]`: build or reuse the cached llama-server. */
export async function buildEngine(backend: string | undefined, cudaArchitectures: string | undefined): Promise<number> {
  const chosen = (backend ?? 'cpu') as ServerBackend;
  if (!serverBackends.includes(chosen)) throw new CliError(`--backend must be one of ${serverBackends.join(', ')} (got ${backend})`, ExitCode.usage);
  const { engineCacheDir } = loadConfig();
  const out = process.stderr;
  let lastLine = 0;
  let lastPhase = '';
  const onProgress = (progress: ServerBuildProgress) => {
    if (out.isTTY) out.write(`\r${progressText(progress)}\x1b[K`);
    else if (progress.phase !== lastPhase || Date.now() - lastLine >= 15_000) {
      out.write(`${progressText(progress)}\n`);
      lastLine = Date.now();
    }
    lastPhase = progress.phase;
  };
  try {
    const build = await buildLlamaServer({ backend: chosen, cacheDir: engineCacheDir, cudaArchitectures, onProgress });
    if (out.isTTY && !build.cached) out.write('\n');
    const how = build.cached ? 'already built' : `built in ${formatSeconds(build.seconds)}`;
    process.stdout.write(`${build.binary}\nllama-server ${build.commit} (${build.backend}) ${how}; workers use it with ENGINE=auto (the default) or ENGINE=server\n`);
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof ServerBuildError) throw new CliError(error.message, ExitCode.failure);
    throw error;
  }
}
