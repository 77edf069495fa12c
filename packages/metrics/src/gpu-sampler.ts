import { execFile } from 'node:child_process';
import { Gauge, type Registry } from 'prom-client';

export interface GpuSample {
  index: number;
  name: string;
  /** 0-1; undefined when the driver reports [N/A]. */
  utilization: number | undefined;
  memoryUsedBytes: number | undefined;
  memoryTotalBytes: number | undefined;
  powerWatts: number | undefined;
  temperatureCelsius: number | undefined;
  smClockHertz: number | undefined;
}

export const NVIDIA_SMI_QUERY = 'index,name,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu,clocks.sm';

function number(field: string | undefined, scale = 1): number | undefined {
  if (field === undefined || /N\/A|Not Supported|^\s*$/i.test(field)) return undefined;
  const value = Number(field.trim());
  return Number.isFinite(value) ? value * scale : undefined;
}

/** Parses `nvidia-smi --query-gpu=<NVIDIA_SMI_QUERY> --format=csv,noheader,nounits`. */
export function parseNvidiaSmiSample(output: string): GpuSample[] {
  const MiB = 1024 * 1024;
  return output
    .split('\n')
    .map((line) => line.split(',').map((field) => field.trim()))
    .filter((fields) => fields.length >= 8 && /^\d+$/.test(fields[0]!))
    .map((fields) => ({
      index: Number(fields[0]),
      name: fields[1]!,
      utilization: number(fields[2], 0.01),
      memoryUsedBytes: number(fields[3], MiB),
      memoryTotalBytes: number(fields[4], MiB),
      powerWatts: number(fields[5]),
      temperatureCelsius: number(fields[6]),
      smClockHertz: number(fields[7], 1e6),
    }));
}

export type SampleResult = { ok: true; gpus: GpuSample[] } | { ok: false; reason: string };

/** Runs nvidia-smi once; a missing binary, a failure or a hang (timeout) is a reason, not a throw. */
export function sampleNvidiaSmi(binary = 'nvidia-smi', timeoutMs = 3000): Promise<SampleResult> {
  return new Promise((resolve) => {
    execFile(binary, [`--query-gpu=${NVIDIA_SMI_QUERY}`, '--format=csv,noheader,nounits'], { timeout: timeoutMs }, (error, stdout) => {
      if (!error) return resolve({ ok: true, gpus: parseNvidiaSmiSample(stdout) });
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return resolve({ ok: false, reason: `${binary} not found` });
      if (error.killed) return resolve({ ok: false, reason: `${binary} did not answer within ${timeoutMs} ms` });
      resolve({ ok: false, reason: `${binary} failed: ${error.message.split('\n')[0]}` });
    });
  });
}

/**
 * GPU gauges labelled by index and name, refreshed every intervalMs. Without nvidia-smi there are
 * no GPU series at all (not zeros), and the caller logs the reason once. In clusters, NVIDIA's
 * DCGM exporter is the fuller alternative.
 */
export class GpuSampler {
  private timer: NodeJS.Timeout | undefined;
  private readonly gauges;
  private reportedAbsence = false;

  constructor(
    registry: Registry,
    private readonly options: { intervalMs: number; binary?: string; timeoutMs?: number; onUnavailable?: (reason: string) => void },
  ) {
    const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['gpu', 'name'], registers: [registry] });
    this.gauges = {
      utilization: gauge('imagefleet_gpu_utilization_ratio', 'GPU utilisation, 0-1 (nvidia-smi utilization.gpu)'),
      memoryUsed: gauge('imagefleet_gpu_memory_used_bytes', 'GPU memory in use'),
      memoryTotal: gauge('imagefleet_gpu_memory_total_bytes', 'GPU memory in total'),
      power: gauge('imagefleet_gpu_power_watts', 'GPU power draw'),
      temperature: gauge('imagefleet_gpu_temperature_celsius', 'GPU temperature'),
      smClock: gauge('imagefleet_gpu_sm_clock_hertz', 'GPU SM clock'),
    };
  }

  /** Takes one sample now and updates the gauges; returns what it saw. */
  async sample(): Promise<SampleResult> {
    const result = await sampleNvidiaSmi(this.options.binary, this.options.timeoutMs);
    for (const gauge of Object.values(this.gauges)) gauge.reset();
    if (!result.ok) {
      if (!this.reportedAbsence) this.options.onUnavailable?.(result.reason);
      this.reportedAbsence = true;
      return result;
    }
    for (const gpu of result.gpus) {
      const labels = { gpu: String(gpu.index), name: gpu.name };
      const set = (gauge: Gauge<'gpu' | 'name'>, value: number | undefined) => value !== undefined && gauge.set(labels, value);
      set(this.gauges.utilization, gpu.utilization);
      set(this.gauges.memoryUsed, gpu.memoryUsedBytes);
      set(this.gauges.memoryTotal, gpu.memoryTotalBytes);
      set(this.gauges.power, gpu.powerWatts);
      set(this.gauges.temperature, gpu.temperatureCelsius);
      set(this.gauges.smClock, gpu.smClockHertz);
    }
    return result;
  }

  start(): void {
    const tick = () => {
      void this.sample().then((result) => {
        // No nvidia-smi: stop asking; a GPU does not appear while the process runs.
        if (!result.ok && /not found/.test(result.reason)) return;
        this.timer = setTimeout(tick, this.options.intervalMs);
        this.timer.unref();
      });
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
