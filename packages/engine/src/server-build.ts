// Builds llama-server from the llama.cpp source that node-llama-cpp ships (a git bundle), once
// per source commit and backend, into a cache: data/engine/<commit>-<backend>/bin/llama-server.
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

export type ServerBackend = 'cpu' | 'cuda' | 'vulkan';
export const serverBackends: readonly ServerBackend[] = ['cpu', 'cuda', 'vulkan'];

/** A build cannot start: a tool is missing or the source is not where it should be. One line. */
export class ServerBuildError extends Error {
  override name = 'ServerBuildError';
}

export interface ServerBuildProgress {
  /** 0..1, from the build tool's [n/m] or [ n%] lines; undefined while configuring. */
  fraction?: number;
  phase: 'clone' | 'configure' | 'build';
  elapsedMs: number;
}

export interface ServerBuildOptions {
  backend: ServerBackend;
  /** Cache root (ENGINE_CACHE_DIR). */
  cacheDir: string;
  /** CUDA architectures (e.g. "75-real;90-real;90-virtual"); default: the GPUs nvidia-smi lists. */
  cudaArchitectures?: string;
  jobs?: number;
  onProgress?(progress: ServerBuildProgress): void;
}

export interface ServerBuild {
  binary: string;
  commit: string;
  backend: ServerBackend;
  /** True when the cache already had it. */
  cached: boolean;
  seconds: number;
}

const run = promisify(execFile);
const require = createRequire(import.meta.url);

/** The llama.cpp source bundle inside node-llama-cpp. */
export function llamaSourceBundle(): string {
  // The package exports no ./package.json: walk up from its entry point to its folder.
  let dir = dirname(require.resolve('node-llama-cpp'));
  while (!existsSync(join(dir, 'llama', 'gitRelease.bundle')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'llama', 'gitRelease.bundle');
}

/** The bundle's commit, read from its header ("# v2 git bundle\n<sha> HEAD"), short form. */
export function bundleCommit(bundle = llamaSourceBundle()): string {
  const fd = openSync(bundle, 'r');
  try {
    const header = Buffer.alloc(200);
    readSync(fd, header, 0, header.length, 0);
    const sha = /^# v[23] git bundle\n(?:@[^\n]*\n)*([0-9a-f]{40}) /.exec(header.toString('latin1'))?.[1];
    if (!sha) throw new ServerBuildError(`${bundle} is not a git bundle`);
    return sha.slice(0, 7);
  } finally {
    closeSync(fd);
  }
}

/**
 * The build recipe's version, kept in build.json: a cached build of an older recipe is built again
 * (2: no AMX kernels).
 */
export const BUILD_RECIPE = 2;

/** A cached llama-server that the current recipe made (an older one may crash, see cmakeFlags). */
function isCurrentBuild(binary: string): boolean {
  if (!existsSync(binary)) return false;
  try {
    const build = JSON.parse(readFileSync(join(dirname(dirname(binary)), 'build.json'), 'utf8')) as { recipe?: number };
    return build.recipe === BUILD_RECIPE;
  } catch {
    return false;
  }
}

export function cachedServerDir(cacheDir: string, commit: string, backend: ServerBackend): string {
  return join(cacheDir, `${commit}-${backend}`);
}

export function cachedServerBinary(cacheDir: string, commit: string, backend: ServerBackend): string {
  return join(cachedServerDir(cacheDir, commit, backend), 'bin', 'llama-server');
}

/**
 * The llama-server a worker should run: LLAMA_SERVER_BIN when set, else a cached build of the
 * bundled source (GPU builds first), else none.
 */
export function findLlamaServer(options: { bin?: string; cacheDir: string }): string | undefined {
  if (options.bin) return options.bin;
  let commit: string;
  try {
    commit = bundleCommit();
  } catch {
    return undefined;
  }
  for (const backend of ['cuda', 'vulkan', 'cpu'] as const) {
    const binary = cachedServerBinary(options.cacheDir, commit, backend);
    if (isCurrentBuild(binary)) return binary;
  }
  return undefined;
}

async function which(tool: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('sh', ['-c', `command -v ${tool}`]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Every tool the backend needs, each missing one named with the Debian package that has it. */
async function checkTools(backend: ServerBackend): Promise<{ generator?: string; nvcc?: string }> {
  const needs: [string[], string][] = [
    [['git'], 'git'],
    [['cmake'], 'cmake'],
    [['c++', 'g++', 'clang++'], 'g++'],
  ];
  if (backend === 'vulkan') needs.push([['glslc'], 'glslc'], [['pkg-config'], 'pkg-config']);
  for (const [tools, aptPackage] of needs) {
    const found = await Promise.all(tools.map(which));
    if (!found.some(Boolean)) throw new ServerBuildError(`${tools[0]} is missing: install it (apt-get install ${aptPackage})`);
  }
  let nvcc: string | undefined;
  if (backend === 'cuda') {
    nvcc = (await which('nvcc')) ?? (existsSync('/usr/local/cuda/bin/nvcc') ? '/usr/local/cuda/bin/nvcc' : undefined);
    if (!nvcc) throw new ServerBuildError('nvcc is missing: install the CUDA toolkit (apt-get install nvidia-cuda-toolkit) or put /usr/local/cuda/bin on PATH');
  }
  if (backend === 'vulkan') {
    const headers = await run('pkg-config', ['--exists', 'vulkan']).then(() => true, () => false);
    if (!headers) throw new ServerBuildError('the Vulkan headers are missing: install them (apt-get install libvulkan-dev)');
  }
  return { generator: (await which('ninja')) ? 'Ninja' : undefined, nvcc };
}

/** Compute capabilities of the GPUs here ("8.6" -> "86-real"), plus PTX of the newest for newer cards. */
async function localCudaArchitectures(): Promise<string> {
  const { stdout } = await run('nvidia-smi', ['--query-gpu=compute_cap', '--format=csv,noheader']).catch(() => ({ stdout: '' }));
  const caps = [...new Set(stdout.split('\n').map((line) => line.trim().replace('.', '')).filter((cap) => /^\d+$/.test(cap)))].sort();
  if (caps.length === 0) throw new ServerBuildError('no GPU answered nvidia-smi: pass --cuda-arch (e.g. "75-real;80-real;86-real;89-real;90-real;90-virtual") to build for other machines');
  return [...caps.map((cap) => `${cap}-real`), `${caps.at(-1)}-virtual`].join(';');
}

const NO_AMX = '-mno-amx-tile -mno-amx-int8 -mno-amx-bf16';

function cmakeFlags(backend: ServerBackend, cudaArchitectures: string | undefined): string[] {
  const flags = [
    '-DCMAKE_BUILD_TYPE=Release',
    // One self-contained binary: nothing to keep beside it in the cache.
    '-DBUILD_SHARED_LIBS=OFF',
    '-DLLAMA_CURL=OFF',
    '-DLLAMA_OPENSSL=OFF',
    '-DLLAMA_BUILD_TESTS=OFF',
    '-DLLAMA_BUILD_EXAMPLES=OFF',
    // Otherwise the build downloads the web UI; the engine never serves it.
    '-DLLAMA_USE_PREBUILT_UI=OFF',
    '-DLLAMA_BUILD_UI=OFF',
    // The cache serves this machine: use every instruction its CPU has (AVX2, FMA, AVX-512, ...)
    '-DGGML_NATIVE=ON',
    // ... except AMX: on Sapphire Rapids and newer Xeons its kernels crash the first decode of a
    // Q8_0 or Q4_0 model (SIGSEGV in ggml_backend_amx_mul_mat, ggml-org/llama.cpp#20824; seen here
    // with the synthetic Qwen3-VL 2B Q8_0). Explicit -mno-* flags win over -march=native in GCC and Clang.
    ...(process.arch === 'x64' ? [`-DCMAKE_C_FLAGS=${NO_AMX}`, `-DCMAKE_CXX_FLAGS=${NO_AMX}`] : []),
  ];
  if (backend === 'cuda') flags.push('-DGGML_CUDA=ON', `-DCMAKE_CUDA_ARCHITECTURES=${cudaArchitectures}`);
  if (backend === 'vulkan') flags.push('-DGGML_VULKAN=ON');
  return flags;
}

/** Runs a command, feeding each output line to `onLine`; rejects with the output's tail on failure. */
function runLogged(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv }, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    let partial = '';
    const take = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-3000);
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.slice(0, 2).join(' ')} failed (${signal ?? `exit ${code}`}):\n${tail}`));
    });
  });
}

/** A lock file with the builder's pid; a lock whose process is gone is taken over. */
function acquireLock(path: string): boolean {
  try {
    writeFileSync(path, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    const pid = Number(readFileSync(path, 'utf8'));
    try {
      if (pid > 0) process.kill(pid, 0);
      return false;
    } catch {
      rmSync(path, { force: true });
      return acquireLock(path);
    }
  }
}

async function waitForOtherBuild(lock: string, binary: string): Promise<void> {
  while (existsSync(lock)) await new Promise((resolve) => setTimeout(resolve, 2000));
  if (!existsSync(binary)) throw new ServerBuildError(`another process was building ${binary} and stopped without a result; run the build again`);
}

/**
 * Builds llama-server for `backend` from the bundled source, or returns the cached build. Two
 * processes asking at once build it once: the second waits for the first.
 */
export async function buildLlamaServer(options: ServerBuildOptions): Promise<ServerBuild> {
  const started = performance.now();
  const bundle = llamaSourceBundle();
  if (!existsSync(bundle)) throw new ServerBuildError(`the llama.cpp source bundle is missing (${bundle}): run npm install`);
  const commit = bundleCommit(bundle);
  const { backend, cacheDir } = options;
  const binary = cachedServerBinary(cacheDir, commit, backend);
  const done = (cached: boolean): ServerBuild => ({ binary, commit, backend, cached, seconds: (performance.now() - started) / 1000 });
  if (isCurrentBuild(binary)) return done(true);

  const { generator, nvcc } = await checkTools(backend);
  const cudaArchitectures = backend === 'cuda' ? (options.cudaArchitectures ?? (await localCudaArchitectures())) : undefined;
  mkdirSync(cacheDir, { recursive: true });
  const lock = join(cacheDir, `.${commit}-${backend}.lock`);
  if (!acquireLock(lock)) {
    await waitForOtherBuild(lock, binary);
    return done(true);
  }
  const work = join(cacheDir, `.work-${commit}-${backend}`);
  try {
    const progress = (phase: ServerBuildProgress['phase'], fraction?: number) =>
      options.onProgress?.({ phase, fraction, elapsedMs: performance.now() - started });
    rmSync(work, { recursive: true, force: true });
    progress('clone');
    await runLogged('git', ['clone', '--quiet', bundle, join(work, 'src')], {}, () => undefined);
    progress('configure');
    const env = nvcc ? { ...process.env, CUDACXX: nvcc } : process.env;
    const configure = ['-S', join(work, 'src'), '-B', join(work, 'build'), ...(generator ? ['-G', generator] : []), ...cmakeFlags(backend, cudaArchitectures)];
    await runLogged('cmake', configure, { env }, () => undefined);
    progress('build', 0);
    const jobs = String(options.jobs ?? availableParallelism());
    await runLogged('cmake', ['--build', join(work, 'build'), '--target', 'llama-server', '-j', jobs], { env }, (line) => {
      // ninja: "[12/204] ...", make: "[ 45%] ..."
      const steps = /^\[(\d+)\/(\d+)\]/.exec(line);
      const percent = /^\[\s*(\d+)%\]/.exec(line);
      if (steps) progress('build', Number(steps[1]) / Number(steps[2]));
      else if (percent) progress('build', Number(percent[1]) / 100);
    });
    // Publish atomically: the cache directory appears complete or not at all.
    const staging = join(work, 'out');
    mkdirSync(join(staging, 'bin'), { recursive: true });
    renameSync(join(work, 'build', 'bin', 'llama-server'), join(staging, 'bin', 'llama-server'));
    writeFileSync(join(staging, 'build.json'), `${JSON.stringify({ commit, backend, recipe: BUILD_RECIPE, cmakeFlags: cmakeFlags(backend, cudaArchitectures), seconds: Math.round((performance.now() - started) / 1000), builtAt: new Date().toISOString() }, null, 2)}\n`);
    rmSync(cachedServerDir(cacheDir, commit, backend), { recursive: true, force: true });
    renameSync(staging, cachedServerDir(cacheDir, commit, backend));
    return done(false);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(lock, { force: true });
  }
}
