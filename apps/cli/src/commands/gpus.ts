import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { nvidiaGpus } from '@imagefleet/engine';
import { CliError, ExitCode } from '../cli-error.js';

/** Which GPU indices `--gpus` names, checked against those nvidia-smi lists. */
export function selectGpus(spec: string, available: number[]): number[] {
  if (spec === 'all') {
    if (available.length === 0) throw new CliError('--gpus all: nvidia-smi lists no GPUs (run without --gpus for one CPU worker)', ExitCode.usage);
    return available;
  }
  const wanted = spec.split(',').map((part) => part.trim());
  if (wanted.some((part) => !/^\d+$/.test(part))) throw new CliError(`--gpus must be "all" or indices like 0,1 (got ${spec})`, ExitCode.usage);
  const indices = [...new Set(wanted.map(Number))];
  const missing = indices.filter((index) => !available.includes(index));
  if (missing.length > 0) {
    throw new CliError(`--gpus ${spec}: GPU ${missing.join(', ')} not found (nvidia-smi lists ${available.length ? available.join(', ') : 'none'})`, ExitCode.usage);
  }
  return indices;
}

/**
 * A supervisor: one `imagefleet worker` process per GPU. GPU_DEVICE (the nvidia-smi index) is what
 * the child plans memory for; CUDA_VISIBLE_DEVICES makes that GPU the only one llama.cpp sees. SIGTERM/SIGINT reach every
 * child; a child that dies is restarted after a pause; exit once all have stopped.
 */
export async function runPerGpu(spec: string, argv: string[]): Promise<number> {
  const gpus = selectGpus(spec, (await nvidiaGpus()).map((gpu) => gpu.index!));
  const entry = fileURLToPath(new URL('../main.js', import.meta.url));
  const args = argv.filter((arg, index) => arg !== '--gpus' && argv[index - 1] !== '--gpus' && !arg.startsWith('--gpus='));
  const children = new Map<number, ChildProcess>();
  let stopping = false;
  const start = (gpu: number) => {
    const child = fork(entry, args, {
      // CUDA numbering follows PCI order like nvidia-smi's only with this set.
      env: { ...process.env, GPU_DEVICE: String(gpu), CUDA_DEVICE_ORDER: 'PCI_BUS_ID', CUDA_VISIBLE_DEVICES: String(gpu), WORKER_PORT: String(Number(process.env.WORKER_PORT ?? 9464) + gpu) },
      stdio: 'inherit',
    });
    children.set(gpu, child);
    child.once('exit', (code) => {
      children.delete(gpu);
      if (!stopping) {
        process.stderr.write(`imagefleet: worker for GPU ${gpu} exited (${code}); restarting in 5 s\n`);
        setTimeout(() => !stopping && start(gpu), 5000);
      }
    });
  };
  gpus.forEach(start);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      stopping = true;
      for (const child of children.values()) child.kill(signal);
      const wait = setInterval(() => {
        if (children.size === 0) {
          clearInterval(wait);
          resolve();
        }
      }, 100);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return ExitCode.ok;
}
