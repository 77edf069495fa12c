import type { DeviceMemory } from './device-memory.js';
import type { ProjectorFacts, TextModelFacts } from './model-files.js';

export interface PlanOptions {
  /** Tokens one job needs: prompt + image tokens + maximum output tokens. */
  contextPerSlot: number;
  maxSlots: number;
  /** Fixed slot count (ENGINE_SLOTS); 0 = as many as fit. */
  requestedSlots: number;
  marginBytes: number;
}

export interface EnginePlan {
  slots: number;
  contextPerSlot: number;
  device: DeviceMemory;
  weightBytes: number;
  projectorBytes: number;
  /** Rough: activations of the vision encoder for the largest image. */
  projectorComputeBytes: number;
  /** KV cache + compute buffers for `slots` sequences of contextPerSlot (node-llama-cpp's estimate). */
  contextBytes: number;
  contextBytesPerExtraSlot: number;
  marginBytes: number;
  /** Device memory left free by the plan (before the margin is counted). */
  spareBytes: number;
  limitedBy: 'memory' | 'max_slots' | 'requested' | 'cpu';
}

/** Even one slot does not fit; the message names every number. */
export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanError';
  }
}

const GiB = 1024 ** 3;
export const formatGiB = (bytes: number) => (Math.abs(bytes) >= GiB / 10 ? `${(bytes / GiB).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(2)} MiB`);

/**
 * Slots (parallel sequences) for one model on one device: free memory, minus weights (model +
 * projector) and the projector's compute buffers, minus a safety margin, must hold the KV cache
 * and compute buffers of N sequences of contextPerSlot tokens each. Estimates come from
 * node-llama-cpp's GgufInsights; N is the largest that fits, capped by maxSlots. On a CPU one
 * slot unless asked: parallel slots measured slower than sequential on CPUs here (FINDINGS).
 */
export async function planEngine(model: TextModelFacts, projector: ProjectorFacts, device: DeviceMemory, options: PlanOptions): Promise<EnginePlan> {
  const onGpu = device.kind === 'gpu';
  const layers = onGpu ? model.insights.totalLayers : 0;
  const modelNeed = await model.insights.estimateModelResourceRequirementsV2({ gpuLayers: layers });
  const weightBytes = onGpu ? modelNeed.gpuVram : model.weightBytes;
  const projectorBytes = projector.weightBytes;
  const projectorComputeBytes = Math.max(256 * 1024 ** 2, Math.round(projectorBytes * 0.25));
  const contextFor = async (slots: number) => {
    const need = await model.insights.estimateContextResourceRequirementsV2({ contextSize: options.contextPerSlot, sequences: slots, modelGpuLayers: layers });
    return onGpu ? need.gpuVram : need.cpuRam;
  };
  const fixed = weightBytes + projectorBytes + projectorComputeBytes + options.marginBytes;
  const fits = async (slots: number) => fixed + (await contextFor(slots)) <= device.freeBytes;

  const one = await contextFor(1);
  if (fixed + one > device.freeBytes) {
    throw new PlanError(
      `${model.name ?? model.path} does not fit on ${device.name}: weights ${formatGiB(weightBytes)} + projector ${formatGiB(projectorBytes)} ` +
        `+ projector compute ${formatGiB(projectorComputeBytes)} + one slot of ${options.contextPerSlot} tokens ${formatGiB(one)} ` +
        `+ safety margin ${formatGiB(options.marginBytes)} = ${formatGiB(fixed + one)} > ${formatGiB(device.freeBytes)} free`,
    );
  }
  let slots: number;
  let limitedBy: EnginePlan['limitedBy'];
  if (options.requestedSlots > 0) {
    slots = options.requestedSlots;
    limitedBy = 'requested';
  } else if (!onGpu) {
    slots = 1;
    limitedBy = 'cpu';
  } else {
    // Memory grows with slots: binary search for the largest count that still fits.
    let low = 1;
    let high = options.maxSlots;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if (await fits(middle)) low = middle;
      else high = middle - 1;
    }
    slots = low;
    limitedBy = slots === options.maxSlots ? 'max_slots' : 'memory';
  }
  const contextBytes = await contextFor(slots);
  return {
    slots,
    contextPerSlot: options.contextPerSlot,
    device,
    weightBytes,
    projectorBytes,
    projectorComputeBytes,
    contextBytes,
    contextBytesPerExtraSlot: slots > 1 ? Math.round((contextBytes - one) / (slots - 1)) : Math.round((await contextFor(2)) - one),
    marginBytes: options.marginBytes,
    spareBytes: device.freeBytes - fixed - contextBytes + options.marginBytes,
    limitedBy,
  };
}

/** The plan as one readable line (also logged as JSON with every input). */
export function describePlan(plan: EnginePlan): string {
  return (
    `${plan.slots} slot(s) x ${plan.contextPerSlot} tokens on ${plan.device.name} (${formatGiB(plan.device.freeBytes)} free of ${formatGiB(plan.device.totalBytes)}): ` +
    `weights ${formatGiB(plan.weightBytes)}, projector ${formatGiB(plan.projectorBytes)} + ${formatGiB(plan.projectorComputeBytes)} compute, ` +
    `context ${formatGiB(plan.contextBytes)} (+${formatGiB(plan.contextBytesPerExtraSlot)} per extra slot), margin ${formatGiB(plan.marginBytes)}; limited by ${plan.limitedBy}`
  );
}
