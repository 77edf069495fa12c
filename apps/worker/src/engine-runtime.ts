import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { existsSync } from 'node:fs';
import type { Config, Logger } from '@imagefleet/core';
import { EngineHost, OpenAiEngine, SlotGate, describePlan, makeTinyModel, pinnedDevice, planEngine, validateModelPair, type EnginePlan, type ModelPair, type VisionEngine } from '@imagefleet/engine';
import { getTask, taskNames, type ModelTask } from '@imagefleet/tasks';

export interface EngineRuntime {
  engine: VisionEngine;
  gate: SlotGate;
  modelName: string;
  plannedSlots: number;
  plan?: EnginePlan;
  /** Times the slot count was halved after an out-of-memory error. */
  oomBackoffs: number;
  close(): Promise<void>;
}

/** MODEL_PATH / MMPROJ_PATH, or the tiny random-weight model generated once under MODELS_DIR. */
export async function resolveModelFiles(config: Config, logger: Logger): Promise<{ model: string; mmproj: string }> {
  if (config.modelPath || config.mmprojPath) {
    if (!config.modelPath || !config.mmprojPath) throw new Error('MODEL_PATH and MMPROJ_PATH must be set together (a vision model needs its projector)');
    return { model: config.modelPath, mmproj: config.mmprojPath };
  }
  const dir = join(config.modelsDir, 'tiny');
  const files = { model: join(dir, 'model.gguf'), mmproj: join(dir, 'mmproj.gguf') };
  if (!existsSync(files.model) || !existsSync(files.mmproj)) await makeTinyModel(dir, { seed: 1, size: 'test' });
  logger.info({ model: files.model }, 'no MODEL_PATH set: using the generated tiny random-weight model (its answers are noise; see README to pull a real one)');
  return files;
}

/** Tokens one job needs in its slot: the prompt, the image and the longest answer any task allows. */
export function contextPerSlotFor(pair: ModelPair): number {
  const models = taskNames()
    .map((name) => getTask(name))
    .filter((task): task is ModelTask => task?.kind === 'model');
  const promptTokens = Math.max(...models.map((task) => Math.ceil(task.prompt({}).length / 3))) + 64;
  const outputTokens = Math.max(...models.map((task) => task.maxOutputTokens({})));
  const imageTokens = imageTokensFor(pair, Math.max(...models.map((task) => task.budget.maxSide)));
  const needed = promptTokens + imageTokens + outputTokens;
  return Math.ceil(needed / 256) * 256;
}

/**
 * Image tokens for an image of maxSide: fixed-resolution projectors (LLaVA-style) always emit
 * (image_size / patch_size)^2; dynamic-resolution ones (Qwen-VL) scale with the image, merging
 * 2x2 patches.
 */
export function imageTokensFor(pair: ModelPair, maxSide: number): number {
  const { projectorType, imageSize, patchSize } = pair.projector;
  const patch = patchSize ?? 14;
  if (projectorType && /qwen/i.test(projectorType)) return Math.ceil(maxSide / (patch * 2)) ** 2;
  return ((imageSize ?? 336) / patch) ** 2;
}

/** Validates the model pair and plans slots for the pinned device; logs the plan with every input. */
export async function planLlamaEngine(config: Config, logger: Logger): Promise<{ files: { model: string; mmproj: string }; plan: EnginePlan }> {
  const files = await resolveModelFiles(config, logger);
  const pair = await validateModelPair(files.model, files.mmproj);
  const contextPerSlot = Math.min(contextPerSlotFor(pair), pair.model.contextLength ?? Number.MAX_SAFE_INTEGER);
  const device = await pinnedDevice(config.gpuDevice);
  const plan = await planEngine(pair.model, pair.projector, device, {
    contextPerSlot,
    maxSlots: config.engineMaxSlots,
    requestedSlots: config.engineSlots,
    marginBytes: config.memorySafetyMarginMiB * 1024 * 1024,
  });
  logger.info({ ...plan, summary: describePlan(plan) }, 'engine plan');
  return { files, plan };
}

export async function startLlamaEngine(config: Config, logger: Logger): Promise<EngineRuntime> {
  const { files, plan } = await planLlamaEngine(config, logger);
  const { slots, contextPerSlot } = plan;
  const onGpu = plan.device.kind === 'gpu';
  const host = new EngineHost({
    model: files.model,
    mmproj: files.mmproj,
    slots,
    contextPerSlot,
    gpuLayers: !onGpu ? 0 : config.engineGpuLayers < 0 ? 999 : config.engineGpuLayers,
    threads: config.engineThreads || availableParallelism(),
    libVariant: config.engineLibVariant === 'auto' ? (onGpu ? 'vulkan' : 'default') : config.engineLibVariant,
    loadTimeoutMs: config.engineLoadTimeoutMs,
    restartBackoffMs: 500,
    logger: logger.child({ component: 'engine' }),
  });
  await host.start();
  return {
    engine: host,
    gate: new SlotGate(slots),
    modelName: basename(files.model),
    plannedSlots: slots,
    plan,
    oomBackoffs: 0,
    close: () => host.close(),
  };
}

/** ENGINE=openai: an OpenAI-compatible server beside the worker; slots from ENGINE_SLOTS or the server. */
export async function startOpenAiEngine(config: Config, logger: Logger): Promise<EngineRuntime> {
  const engine = new OpenAiEngine({
    baseUrl: config.openaiBaseUrl,
    apiKey: config.openaiApiKey,
    model: config.openaiModel,
    slots: config.engineSlots,
    logger: logger.child({ component: 'engine' }),
  });
  await engine.start();
  return { engine, gate: new SlotGate(engine.slots), modelName: engine.modelName, plannedSlots: engine.slots, oomBackoffs: 0, close: () => engine.close() };
}
