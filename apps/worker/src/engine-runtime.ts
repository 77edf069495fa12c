import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { Config, Logger } from '@imagefleet/core';
import {
  EngineHost, EngineStartError, EngineSupervisor, LlamaServerEngine, OpenAiEngine, describePlan, findLlamaServer, makeTinyModel, pinnedDevice, planEngine, validateModelPair,
  type EnginePlan, type ModelPair, type VisionEngine,
} from '@imagefleet/engine';
import { getTask, taskNames, type ModelTask } from '@imagefleet/tasks';

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

function modelTasks(): ModelTask[] {
  return taskNames()
    .map((name) => getTask(name))
    .filter((task): task is ModelTask => task?.kind === 'model');
}

/** Prompt and answer tokens of the largest model task, without the image. */
export function textTokensPerSlot(): number {
  const tasks = modelTasks();
  const promptTokens = Math.max(...tasks.map((task) => Math.ceil(task.prompt({}).length / 3))) + 64;
  return promptTokens + Math.max(...tasks.map((task) => task.maxOutputTokens({})));
}

/** Tokens one job needs in its slot: the prompt, the image and the longest answer any task allows. */
export function contextPerSlotFor(pair: ModelPair): number {
  const imageTokens = imageTokensFor(pair, Math.max(...modelTasks().map((task) => task.budget.maxSide)));
  return Math.ceil((textTokensPerSlot() + imageTokens) / 256) * 256;
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

/** ENGINE=auto means server when a llama-server is found (LLAMA_SERVER_BIN, else the build cache), else llama. */
export function resolveEngineKind(config: Config): 'server' | 'llama' | 'openai' | 'none' {
  if (config.engine !== 'auto') return config.engine;
  return findLlamaServer({ bin: config.llamaServerBin, cacheDir: config.engineCacheDir }) ? 'server' : 'llama';
}

/** Starts the worker's engine under its supervisor; undefined for ENGINE=none. */
export async function startEngine(config: Config, logger: Logger): Promise<EngineSupervisor | undefined> {
  const kind = resolveEngineKind(config);
  if (kind === 'none') return undefined;
  const engineLogger = logger.child({ component: 'engine', engine: kind });
  const supervise = (engine: VisionEngine, plannedSlots: number, plan?: EnginePlan) =>
    new EngineSupervisor(engine, { plannedSlots, plan, maxCrashes: config.engineMaxCrashes, probationMs: 30_000, logger: engineLogger });
  if (kind === 'openai') {
    // The server's image tokens are unknown here: refuse only a context that cannot hold the text alone.
    const contextPerSlot = textTokensPerSlot();
    const engine = new OpenAiEngine({ baseUrl: config.openaiBaseUrl, apiKey: config.openaiApiKey, model: config.openaiModel, slots: config.engineSlots, contextPerSlot, healthIntervalMs: 5000, logger: engineLogger });
    await engine.start();
    return supervise(engine, engine.slots);
  }
  const { files, plan } = await planLlamaEngine(config, logger);
  const onGpu = plan.device.kind === 'gpu';
  const common = {
    model: files.model,
    mmproj: files.mmproj,
    slots: plan.slots,
    contextPerSlot: plan.contextPerSlot,
    gpuLayers: !onGpu ? 0 : config.engineGpuLayers < 0 ? 999 : config.engineGpuLayers,
    threads: config.engineThreads || availableParallelism(),
    loadTimeoutMs: config.engineLoadTimeoutMs,
    restartBackoffMs: 500,
    logger: engineLogger,
  };
  if (kind === 'server') {
    const binary = findLlamaServer({ bin: config.llamaServerBin, cacheDir: config.engineCacheDir });
    if (!binary) throw new EngineStartError('ENGINE=server needs a llama-server: run `imagefleet engine build` or set LLAMA_SERVER_BIN');
    // The callback runs during start(), after the supervisor exists.
    const engine = new LlamaServerEngine({ ...common, binary, onSlotsLowered: (slots) => supervisor.slotsLowered(slots) });
    const supervisor = supervise(engine, plan.slots, plan);
    await engine.start().catch(async (error: unknown) => {
      await engine.close();
      throw error;
    });
    if (engine.slots < plan.slots) supervisor.slotsLowered(engine.slots);
    return supervisor;
  }
  engineLogger.info({ hint: 'imagefleet engine build' }, 'ENGINE=llama is the zero-build fallback and the slow path (no AVX in its prebuilt CPU binary); build llama-server with `imagefleet engine build` for the fast one');
  const host = new EngineHost({ ...common, libVariant: config.engineLibVariant === 'auto' ? (onGpu ? 'vulkan' : 'default') : config.engineLibVariant });
  await host.start();
  return supervise(host, plan.slots, plan);
}
