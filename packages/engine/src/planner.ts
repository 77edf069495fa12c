import type { DeviceMemory } from './device-memory.js';
import type { ProjectorFacts, TextModelFacts } from './model-files.js';

export interface PlanOptions {
  /** Tokens one job needs: prompt + image tokens + maximum output tokens. */
  contextPerSlot: number;
  maxSlots: number;
  /** Fixed slot count (ENGINE_SLOTS); 0 = as many as fit. */
  requestedSlots: number;
  marginBytes: number;
  /**
   * Pixels of the largest image a job sends. CPU plans only: llama-server keeps each slot's
   * decoded and preprocessed image in host memory (~80 bytes per pixel, measured). 0 or absent:
   * not counted.
   */
  maxImagePixels?: number;
}

export interface EnginePlan {
  slots: number;
  contextPerSlot: number;
  device: DeviceMemory;
  weightBytes: number;
  projectorBytes: number;
  /** The vision encoder's compute buffer (llama.cpp reserves it for its warmup image). */
  projectorComputeBytes: number;
  /** KV cache (node-llama-cpp's estimate) + llama-server's compute and output buffers, for `slots` sequences of contextPerSlot. */
  contextBytes: number;
  /** CPU plans: the slots' decoded images in host memory (0 on a GPU, whose plan counts device memory only). */
  imageBytes: number;
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

const MiB = 1024 ** 2;
/** llama-server's physical batch (its -ub default): the text compute buffer is reserved for this many tokens. */
export const SERVER_UBATCH = 512;
/** Host memory llama-server keeps per slot for the slot's image (decoded, resized, normalised), per pixel; measured (README Models). */
export const IMAGE_HOST_BYTES_PER_PIXEL = 80;

type Metadata = Record<string, unknown>;
const metadataOf = (model: TextModelFacts): Metadata => (model.insights.ggufFileInfo.metadata ?? {}) as unknown as Metadata;
const numberAt = (metadata: Metadata, path: string): number | undefined => {
  const value = path.split('.').reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Metadata)[key] : undefined), metadata);
  return typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : undefined;
};

/**
 * The compute and output buffers llama-server reserves for its text context, which do not depend
 * on the weights: the graph of one ubatch of 512 tokens with flash attention (on by default for
 * CPU and CUDA), ~(6 + n_embd_inp/n_embd) x n_embd + 3 x n_ff floats per token (n_embd_inp is
 * wider than n_embd by the deepstack inputs of Qwen3-VL), plus the f16 attention mask over one
 * slot's context; and one row of logits per slot. Fitted to llama.cpp's own figures for the
 * Qwen3-VL 2B/4B/8B shapes and two test shapes (within 1 %). node-llama-cpp's estimate, which
 * this replaces, sizes both for its own contexts: logits for every token of a batch (~300 MiB
 * for a 152k vocabulary) and a smaller graph.
 */
export function serverContextOverheadBytes(model: TextModelFacts, contextPerSlot: number, slots: number): number {
  const metadata = metadataOf(model);
  const arch = model.architecture;
  const embedding = model.embedding ?? numberAt(metadata, `${arch}.embedding_length`) ?? 4096;
  const feedForward = numberAt(metadata, `${arch}.feed_forward_length`) ?? 4 * embedding;
  const deepstack = numberAt(metadata, `${arch}.n_deepstack_layers`) ?? 0;
  const vocab = model.insights.ggufFileInfo.tensorInfo?.find((tensor) => tensor.name === 'token_embd.weight')?.dimensions[1];
  const perToken = (7 + deepstack) * embedding + 3 * feedForward;
  const compute = SERVER_UBATCH * 4 * perToken + contextPerSlot * SERVER_UBATCH * 2;
  return compute + slots * Number(vocab ?? 0) * 4;
}

/**
 * The vision encoder's compute buffer. llama.cpp reserves it at load for a warmup image: for
 * Qwen-VL projectors (dynamic resolution) 46 x 46 merged tokens, i.e. 8,464 patches with 2 x 2
 * merging, ~max(10 x width, 3 x patch^2 + 7 x width) floats per patch (fitted to llama.cpp's
 * figures for vision widths 64, 1024 and 1152: within 3 %). Larger than any image the tasks send
 * (1280 px = 6,400 patches), so the reservation is the peak. Other projectors keep the rough
 * estimate: a quarter of their weights, at least 256 MiB.
 */
export function projectorComputeEstimate(projector: ProjectorFacts): number {
  const width = projector.visionWidth;
  if (projector.projectorType && /qwen/i.test(projector.projectorType) && width) {
    const patch = projector.patchSize ?? 16;
    const patches = 46 * 46 * 2 * 2;
    return 4 * patches * Math.max(10 * width, 3 * patch * patch + 7 * width);
  }
  return Math.max(256 * MiB, Math.round(projector.weightBytes * 0.25));
}

/**
 * Slots (parallel sequences) for one model on one device: free memory, minus weights (model +
 * projector) and the projector's compute buffer, minus a safety margin, must hold the KV cache
 * and llama-server's compute buffers for N sequences of contextPerSlot tokens each (and on a CPU
 * the slots' images). N is the largest that fits, capped by maxSlots. On a CPU one slot unless
 * asked: parallel slots measured slower than sequential on CPUs here (FINDINGS).
 */
export async function planEngine(model: TextModelFacts, projector: ProjectorFacts, device: DeviceMemory, options: PlanOptions): Promise<EnginePlan> {
  const onGpu = device.kind === 'gpu';
  const layers = onGpu ? model.insights.totalLayers : 0;
  const modelNeed = await model.insights.estimateModelResourceRequirementsV2({ gpuLayers: layers });
  const weightBytes = onGpu ? modelNeed.gpuVram : model.weightBytes;
  const projectorBytes = projector.weightBytes;
  const projectorComputeBytes = projectorComputeEstimate(projector);
  const imageBytesPerSlot = onGpu ? 0 : IMAGE_HOST_BYTES_PER_PIXEL * (options.maxImagePixels ?? 0);
  const contextFor = async (slots: number) => {
    // The KV cache from node-llama-cpp (a batch of one token: its own compute and logits buffers
    // are not llama-server's). Device and host parts together: a simulation on a machine without
    // the GPU puts everything on the host.
    const need = await model.insights.estimateContextResourceRequirementsV2({ contextSize: options.contextPerSlot, sequences: slots, modelGpuLayers: layers, batchSize: 1 });
    return need.gpuVram + need.cpuRam + serverContextOverheadBytes(model, options.contextPerSlot, slots);
  };
  const fixed = weightBytes + projectorBytes + projectorComputeBytes + options.marginBytes;
  const fits = async (slots: number) => fixed + (await contextFor(slots)) + slots * imageBytesPerSlot <= device.freeBytes;

  const one = (await contextFor(1)) + imageBytesPerSlot;
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
  const imageBytes = slots * imageBytesPerSlot;
  const oneContext = one - imageBytesPerSlot;
  return {
    slots,
    contextPerSlot: options.contextPerSlot,
    device,
    weightBytes,
    projectorBytes,
    projectorComputeBytes,
    contextBytes,
    imageBytes,
    contextBytesPerExtraSlot: slots > 1 ? Math.round((contextBytes - oneContext) / (slots - 1)) : Math.round((await contextFor(2)) - oneContext),
    marginBytes: options.marginBytes,
    spareBytes: device.freeBytes - fixed - contextBytes - imageBytes + options.marginBytes,
    limitedBy,
  };
}

/** The plan as one readable line (also logged as JSON with every input). */
export function describePlan(plan: EnginePlan): string {
  return (
    `${plan.slots} slot(s) x ${plan.contextPerSlot} tokens on ${plan.device.name} (${formatGiB(plan.device.freeBytes)} free of ${formatGiB(plan.device.totalBytes)}): ` +
    `weights ${formatGiB(plan.weightBytes)}, projector ${formatGiB(plan.projectorBytes)} + ${formatGiB(plan.projectorComputeBytes)} compute, ` +
    `context ${formatGiB(plan.contextBytes)} (+${formatGiB(plan.contextBytesPerExtraSlot)} per extra slot), ` +
    `${plan.imageBytes ? `images ${formatGiB(plan.imageBytes)}, ` : ''}margin ${formatGiB(plan.marginBytes)}; limited by ${plan.limitedBy}`
  );
}
