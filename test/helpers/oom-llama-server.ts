// A stand-in for a GPU out-of-memory abort, which a CPU machine cannot produce: runs the real
// llama-server with the arguments it was given and, the first time a request is being processed
// while the marker file exists, prints the line llama.cpp's CUDA backend prints when cudaMalloc
// fails and aborts the server, as llama-server does on a GPU. Used as LLAMA_SERVER_BIN through
// oomLlamaServer() below; the worker's detection and policy around it are the real ones.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Writes an executable that runs this stand-in in front of `binary`; returns its path. */
export function oomLlamaServer(dir: string, binary: string, marker: string): string {
  const script = join(dir, 'oom-llama-server');
  writeFileSync(script, `#!/bin/sh\nexec "${process.execPath}" "${fileURLToPath(import.meta.url)}" "${binary}" "${marker}" "$@"\n`);
  chmodSync(script, 0o755);
  return script;
}

async function main(): Promise<void> {
  const [binary, marker, ...args] = process.argv.slice(2) as [string, string, ...string[]];
  // Dies with this stand-in, as llama-server dies with its worker.
  const server = spawn('setpriv', ['--pdeathsig', 'KILL', '--', binary, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  server.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => server.kill(signal));
  const port = args[args.indexOf('--port') + 1];
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (!existsSync(marker)) continue;
    const slots: unknown = await fetch(`http://127.0.0.1:${port}/slots`).then((response) => response.json()).catch(() => []);
    if (!Array.isArray(slots) || !slots.some((slot: { is_processing?: boolean }) => slot.is_processing)) continue;
    rmSync(marker, { force: true });
    process.stderr.write('ggml_backend_cuda_buffer_type_alloc_buffer: allocating 1024.00 MiB on device 0: cudaMalloc failed: out of memory\n');
    server.kill('SIGKILL');
    process.exit(134);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void main();
