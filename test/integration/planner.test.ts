import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PlanError, bindingGpus, describePlan, makeTinyModel, nvidiaGpus, pinnedDevice, parseNvidiaSmiMemory, planEngine, validateModelPair, writeReferenceModel,
  type DeviceMemory, type ModelPair,
} from '@imagefleet/engine';

const GiB = 1024 ** 3;
let dir: string;
const pairs = new Map<string, ModelPair>();
const options = { contextPerSlot: 3072, maxSlots: 256, requestedSlots: 0, marginBytes: 1 * GiB };

function gpu(totalGiB: number): DeviceMemory {
  return { kind: 'gpu', index: 0, name: `simulated ${totalGiB} GB GPU`, totalBytes: totalGiB * 1e9, freeBytes: totalGiB * 1e9 - 0.5 * GiB, source: 'simulated' };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-plan-'));
  for (const [key, quant] of [['qwen3-vl-2b', 'Q4_K_M'], ['qwen3-vl-4b', 'Q4_K_M'], ['qwen3-vl-8b', 'Q4_K_M'], ['qwen3-vl-8b', 'Q8_0']] as const) {
    const files = await writeReferenceModel(dir, key, quant);
    pairs.set(`${key}:${quant}`, await validateModelPair(files.model, files.mmproj, { headerOnly: true }));
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('reference model fixtures read like the real files: weights of the right size', () => {
  const gib = (key: string) => pairs.get(key)!.model.weightBytes / GiB;
  assert.ok(gib('qwen3-vl-2b:Q4_K_M') > 0.8 && gib('qwen3-vl-2b:Q4_K_M') < 1.6, `2B Q4_K_M ${gib('qwen3-vl-2b:Q4_K_M')}`);
  assert.ok(gib('qwen3-vl-4b:Q4_K_M') > 1.8 && gib('qwen3-vl-4b:Q4_K_M') < 3.2, `4B Q4_K_M ${gib('qwen3-vl-4b:Q4_K_M')}`);
  assert.ok(gib('qwen3-vl-8b:Q8_0') > 7 && gib('qwen3-vl-8b:Q8_0') < 9.5, `8B Q8_0 ${gib('qwen3-vl-8b:Q8_0')}`);
  assert.equal(pairs.get('qwen3-vl-8b:Q8_0')!.projector.projectionDim, 4096);
});

test('more device memory gives more slots; a bigger model fewer', async () => {
  const slots = async (key: string, device: DeviceMemory) => (await planEngine(pairs.get(key)!.model, pairs.get(key)!.projector, device, options)).slots;
  for (const key of pairs.keys()) {
    const [s24, s48, s80] = [await slots(key, gpu(24)), await slots(key, gpu(48)), await slots(key, gpu(80))];
    assert.ok(s24 >= 1 && s24 < s48 && s48 < s80, `${key}: ${s24} / ${s48} / ${s80}`);
  }
  assert.ok((await slots('qwen3-vl-2b:Q4_K_M', gpu(24))) > (await slots('qwen3-vl-8b:Q8_0', gpu(24))));
  assert.ok((await slots('qwen3-vl-8b:Q4_K_M', gpu(24))) > (await slots('qwen3-vl-8b:Q8_0', gpu(24))));
});

test('the plan adds up, is capped, honours a fixed slot count, and prints every input', async () => {
  const pair = pairs.get('qwen3-vl-4b:Q4_K_M')!;
  const plan = await planEngine(pair.model, pair.projector, gpu(24), options);
  assert.equal(plan.limitedBy, 'memory');
  const used = plan.weightBytes + plan.projectorBytes + plan.projectorComputeBytes + plan.contextBytes + plan.marginBytes;
  assert.ok(used <= plan.device.freeBytes, 'the plan must fit');
  const onMore = plan.contextBytes + plan.contextBytesPerExtraSlot;
  assert.ok(used - plan.contextBytes + onMore > plan.device.freeBytes - plan.contextBytesPerExtraSlot, 'one more slot would (nearly) not fit');
  assert.match(describePlan(plan), /^\d+ slot\(s\) x 3072 tokens on simulated 24 GB GPU .*weights .* GiB, projector .* GiB .* context .* margin 1\.00 GiB; limited by memory$/);
  assert.equal((await planEngine(pair.model, pair.projector, gpu(80), { ...options, maxSlots: 8 })).limitedBy, 'max_slots');
  const fixed = await planEngine(pair.model, pair.projector, gpu(80), { ...options, requestedSlots: 3 });
  assert.deepEqual([fixed.slots, fixed.limitedBy], [3, 'requested']);
});

test('a model that cannot fit is a clear error naming the numbers', async () => {
  const pair = pairs.get('qwen3-vl-8b:Q8_0')!;
  const small = { ...gpu(8), name: 'an 8 GB GPU' };
  await assert.rejects(
    planEngine(pair.model, pair.projector, small, options),
    (error: Error) =>
      error instanceof PlanError &&
      /does not fit on an 8 GB GPU: weights \d+\.\d\d GiB \+ projector \d+\.\d\d GiB \+ projector compute .* \+ one slot of 3072 tokens .* \+ safety margin 1\.00 GiB = \d+\.\d\d GiB > \d+\.\d\d GiB free/.test(error.message),
  );
});

test('on a CPU one slot unless asked; the generated tiny model plans too', async () => {
  const tiny = await makeTinyModel(join(dir, 'tiny'));
  const pair = await validateModelPair(tiny.model, tiny.mmproj);
  const cpu: DeviceMemory = { kind: 'cpu', index: undefined, name: 'cpu', totalBytes: 24 * GiB, freeBytes: 20 * GiB, source: 'simulated' };
  const plan = await planEngine(pair.model, pair.projector, cpu, { ...options, contextPerSlot: 1024 });
  assert.deepEqual([plan.slots, plan.limitedBy], [1, 'cpu']);
  assert.equal((await planEngine(pair.model, pair.projector, cpu, { ...options, contextPerSlot: 1024, requestedSlots: 4 })).slots, 4);
});

test('nvidia-smi memory output is parsed per GPU', () => {
  const devices = parseNvidiaSmiMemory('0, NVIDIA H100 80GB HBM3, 81559, 80000\n1, NVIDIA L4, 23034, 22000\n\n');
  assert.deepEqual(devices.map((device) => [device.index, device.name, device.totalBytes / 1024 ** 2, device.freeBytes / 1024 ** 2]), [
    [0, 'NVIDIA H100 80GB HBM3', 81559, 80000],
    [1, 'NVIDIA L4', 23034, 22000],
  ]);
  assert.deepEqual(parseNvidiaSmiMemory('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'), []);
});

test('the pinned device: a GPU when one is found, else the CPU with its available memory', async () => {
  const gpus = [...(await nvidiaGpus()), ...(await bindingGpus())];
  const device = await pinnedDevice(undefined);
  if (gpus.length === 0) {
    assert.deepEqual([device.kind, device.source], ['cpu', 'os']);
    assert.ok(device.freeBytes > 0 && device.freeBytes <= device.totalBytes);
    await assert.rejects(pinnedDevice(3), /GPU_DEVICE=3 but no GPU is found/);
  } else {
    assert.equal(device.kind, 'gpu');
    assert.ok(device.totalBytes > 0);
  }
});
