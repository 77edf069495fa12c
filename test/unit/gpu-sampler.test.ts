import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GpuSampler, Registry, parseNvidiaSmiSample, sampleNvidiaSmi } from '@imagefleet/metrics';

// Captured `nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu,clocks.sm --format=csv,noheader,nounits`
const ONE_H100 = '0, NVIDIA H100 80GB HBM3, 87, 61234, 81559, 512.34, 61, 1980\n';
const TWO_L4 = '0, NVIDIA L4, 100, 20011, 23034, 71.50, 74, 2040\n1, NVIDIA L4, 3, 412, 23034, 16.20, 39, 210\n';
const NOT_AVAILABLE = '0, NVIDIA GeForce RTX 4090, [N/A], 1024, 24564, [N/A], 45, [Not Supported]\n';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-smi-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function fakeSmi(name: string, script: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${script}\n`);
  chmodSync(path, 0o755);
  return path;
}

test('one GPU: every field in base units', () => {
  assert.deepEqual(parseNvidiaSmiSample(ONE_H100), [
    { index: 0, name: 'NVIDIA H100 80GB HBM3', utilization: 0.87, memoryUsedBytes: 61234 * 1024 ** 2, memoryTotalBytes: 81559 * 1024 ** 2, powerWatts: 512.34, temperatureCelsius: 61, smClockHertz: 1980e6 },
  ]);
});

test('several GPUs, in index order', () => {
  const gpus = parseNvidiaSmiSample(TWO_L4);
  assert.deepEqual(gpus.map((gpu) => [gpu.index, gpu.utilization, gpu.temperatureCelsius]), [[0, 1, 74], [1, 0.03, 39]]);
});

test('[N/A] and [Not Supported] fields are absent, not zero', () => {
  const [gpu] = parseNvidiaSmiSample(NOT_AVAILABLE);
  assert.equal(gpu!.utilization, undefined);
  assert.equal(gpu!.powerWatts, undefined);
  assert.equal(gpu!.smClockHertz, undefined);
  assert.equal(gpu!.temperatureCelsius, 45);
  assert.deepEqual(parseNvidiaSmiSample('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.\n'), []);
});

test('a missing binary, a failing one and a hanging one are reasons, never throws', async () => {
  assert.deepEqual(await sampleNvidiaSmi(join(dir, 'absent-nvidia-smi')), { ok: false, reason: `${join(dir, 'absent-nvidia-smi')} not found` });
  const failing = fakeSmi('failing', 'echo "No devices were found" >&2; exit 6');
  const failed = await sampleNvidiaSmi(failing);
  assert.equal(failed.ok, false);
  assert.match((failed as { reason: string }).reason, /failed/);
  const hanging = fakeSmi('hanging', 'sleep 30');
  const started = Date.now();
  const hung = await sampleNvidiaSmi(hanging, 300);
  assert.ok(Date.now() - started < 5000);
  assert.deepEqual(hung, { ok: false, reason: `${hanging} did not answer within 300 ms` });
});

test('the sampler exports series per GPU, none at all without nvidia-smi, and says why once', async () => {
  const registry = new Registry();
  const reasons: string[] = [];
  const sampler = new GpuSampler(registry, { intervalMs: 1000, binary: fakeSmi('two', `printf '${TWO_L4}'`), onUnavailable: (reason) => reasons.push(reason) });
  await sampler.sample();
  const text = await registry.metrics();
  assert.match(text, /imagefleet_gpu_utilization_ratio\{gpu="0",name="NVIDIA L4"\} 1/);
  assert.match(text, /imagefleet_gpu_memory_total_bytes\{gpu="1",name="NVIDIA L4"\} 24152899584/);
  assert.match(text, /imagefleet_gpu_power_watts\{gpu="1",name="NVIDIA L4"\} 16.2/);

  const empty = new Registry();
  const absent = new GpuSampler(empty, { intervalMs: 1000, binary: join(dir, 'no-such-smi'), onUnavailable: (reason) => reasons.push(reason) });
  await absent.sample();
  await absent.sample();
  assert.doesNotMatch(await empty.metrics(), /imagefleet_gpu_\w+\{/);
  assert.deepEqual(reasons, [`${join(dir, 'no-such-smi')} not found`]);
});
