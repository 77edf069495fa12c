import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { freemem, totalmem } from 'node:os';

export interface DeviceMemory {
  kind: 'gpu' | 'cpu';
  /** GPU index (nvidia-smi order); undefined for the CPU. */
  index: number | undefined;
  name: string;
  totalBytes: number;
  freeBytes: number;
  /** llama.cpp: the binding reports total memory only, so free = total there. */
  source: 'nvidia-smi' | 'llama.cpp' | 'os' | 'simulated';
}

const MiB = 1024 * 1024;

/** Parses `nvidia-smi --query-gpu=index,name,memory.total,memory.free --format=csv,noheader,nounits`. */
export function parseNvidiaSmiMemory(output: string): DeviceMemory[] {
  return output
    .split('\n')
    .map((line) => line.split(',').map((field) => field.trim()))
    .filter((fields) => fields.length >= 4 && /^\d+$/.test(fields[0]!))
    .map(([index, name, total, free]) => ({
      kind: 'gpu' as const,
      index: Number(index),
      name: name!,
      totalBytes: Number(total) * MiB,
      freeBytes: Number(free) * MiB,
      source: 'nvidia-smi' as const,
    }))
    .filter((device) => Number.isFinite(device.totalBytes) && Number.isFinite(device.freeBytes));
}

/** NVIDIA GPUs with their free memory, or [] when nvidia-smi is absent, fails or hangs. */
export async function nvidiaGpus(timeoutMs = 5000): Promise<DeviceMemory[]> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=index,name,memory.total,memory.free', '--format=csv,noheader,nounits'], { timeout: timeoutMs }, (error, stdout) =>
      resolve(error ? [] : parseNvidiaSmiMemory(stdout)),
    );
  });
}

/** Non-NVIDIA GPUs as llama.cpp's Vulkan build sees them, from a child process; [] when none. */
export async function bindingGpus(timeoutMs = 15_000): Promise<DeviceMemory[]> {
  const script = fileURLToPath(new URL('./list-devices.js', import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, [script], { timeout: timeoutMs }, (error, stdout) => {
      if (error) return resolve([]);
      try {
        const devices = JSON.parse(stdout.slice(stdout.lastIndexOf('['))) as { deviceName: string; maxMemorySize: number }[];
        resolve(devices.map((device, index) => ({ kind: 'gpu', index, name: device.deviceName, totalBytes: device.maxMemorySize, freeBytes: device.maxMemorySize, source: 'llama.cpp' })));
      } catch {
        resolve([]);
      }
    });
  });
}

/** RAM available to a new process (MemAvailable, which counts reclaimable cache, unlike freemem). */
export async function cpuMemory(): Promise<DeviceMemory> {
  const meminfo = await readFile('/proc/meminfo', 'utf8').catch(() => '');
  const available = /MemAvailable:\s+(\d+) kB/.exec(meminfo);
  return {
    kind: 'cpu',
    index: undefined,
    name: 'cpu',
    totalBytes: totalmem(),
    freeBytes: available ? Number(available[1]) * 1024 : freemem(),
    source: 'os',
  };
}

/**
 * The device a worker is pinned to: GPU `index` (or the first GPU) from nvidia-smi, else from the
 * binding's device list (other vendors, via Vulkan), else the CPU.
 */
export async function pinnedDevice(index: number | undefined): Promise<DeviceMemory> {
  const nvidia = await nvidiaGpus();
  const gpus = nvidia.length > 0 ? nvidia : await bindingGpus();
  if (index !== undefined) {
    const gpu = gpus.find((device) => device.index === index);
    if (!gpu) throw new Error(`GPU_DEVICE=${index} but ${gpus.length === 0 ? 'no GPU is found' : `the GPUs found are ${gpus.map((device) => device.index).join(', ')}`}`);
    return gpu;
  }
  return gpus[0] ?? cpuMemory();
}
