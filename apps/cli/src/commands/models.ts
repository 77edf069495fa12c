import { resolve } from 'node:path';
import { mkdir, mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  describePlan, formatGiB, makeSyntheticModel, makeTinyModel, pullModel, pinnedDevice, planEngine, publishedShapeKeys, readProjector, readTextModel, referenceModels,
  referenceQuants, syntheticProjectorFile, syntheticProjectorTypes, syntheticShapeKeys, syntheticTextFile, syntheticTypes, syntheticWriter, validateModelPair,
  writeReferenceModel, type DeviceMemory, type SyntheticProjectorType, type SyntheticType,
} from '@imagefleet/engine';
import { getTask, taskNames } from '@imagefleet/tasks';
import { contextPerSlotFor } from '@imagefleet/worker';
import { CliError, ExitCode } from '../cli-error.js';

export async function makeTiny(dir: string, seed: string | undefined, size: string | undefined): Promise<number> {
  if (size !== undefined && size !== 'test' && size !== 'bench') throw new CliError(`--size must be test or bench (got ${size})`, ExitCode.usage);
  const seedValue = seed === undefined ? 1 : Number(seed);
  if (!Number.isInteger(seedValue) || seedValue < 0) throw new CliError(`--seed must be a non-negative integer (got ${seed})`, ExitCode.usage);
  const files = await makeTinyModel(resolve(dir), { seed: seedValue, size: (size as 'test' | 'bench' | undefined) ?? 'test' });
  process.stdout.write(`${files.model}\n${files.mmproj}\nA random-weight model: it runs the real inference path and answers noise.\n`);
  return ExitCode.ok;
}

/**
 * A random-weight model + mmproj with the shape of a published Qwen3-VL model, streamed to disk
 * (constant memory). Refuses up front when the disk cannot hold it.
 */
export async function makeSynthetic(dir: string | undefined, like: string | undefined, type: string | undefined, mmprojType: string | undefined, seed: string | undefined): Promise<number> {
  if (!dir) throw new CliError('models make-synthetic needs a directory: models make-synthetic --like qwen3-vl-2b <dir>', ExitCode.usage);
  if (!like || !(syntheticShapeKeys as string[]).includes(like)) {
    throw new CliError(`--like must be one of ${publishedShapeKeys.join(', ')} (got ${like ?? 'nothing'})`, ExitCode.usage);
  }
  const textType = (type ?? 'q8_0').toLowerCase();
  if (!(syntheticTypes as string[]).includes(textType)) throw new CliError(`--type must be one of ${syntheticTypes.join(', ')} (got ${type})`, ExitCode.usage);
  const projectorType = (mmprojType ?? 'f16').toLowerCase();
  if (!(syntheticProjectorTypes as string[]).includes(projectorType)) {
    throw new CliError(`--mmproj-type must be one of ${syntheticProjectorTypes.join(', ')} (got ${mmprojType})`, ExitCode.usage);
  }
  const seedValue = seed === undefined ? 1 : Number(seed);
  if (!Number.isInteger(seedValue) || seedValue < 0) throw new CliError(`--seed must be a non-negative integer (got ${seed})`, ExitCode.usage);
  const options = { like, type: textType as SyntheticType, mmprojType: projectorType as SyntheticProjectorType, seed: seedValue };
  const target = resolve(dir);
  const need = syntheticWriter(syntheticTextFile(like, options.type), 0).fileBytes() + syntheticWriter(syntheticProjectorFile(like, options.mmprojType), 0).fileBytes();
  await mkdir(target, { recursive: true });
  const disk = await statfs(target);
  if (disk.bavail * disk.bsize < need) throw new CliError(`${target} has ${formatGiB(disk.bavail * disk.bsize)} free; the model needs ${formatGiB(need)}`);
  const started = performance.now();
  let last = 0;
  const files = await makeSyntheticModel(target, options, ({ file, writtenBytes, totalBytes }) => {
    if (!process.stderr.isTTY || (performance.now() - last < 500 && writtenBytes < totalBytes)) return;
    last = performance.now();
    process.stderr.write(`\r${file}: ${formatGiB(writtenBytes)} / ${formatGiB(totalBytes)} (${((writtenBytes / totalBytes) * 100).toFixed(1)}%)\x1b[K`);
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  process.stdout.write(
    `MODEL_PATH=${files.model}\nMMPROJ_PATH=${files.mmproj}\n` +
      `${formatGiB(files.modelBytes)} + ${formatGiB(files.mmprojBytes)} in ${((performance.now() - started) / 1000).toFixed(1)} s. ` +
      'Random weights in the published shape: it costs what the real model costs to load and run, and answers noise.\n',
  );
  return ExitCode.ok;
}

/** Architecture, size, parameters, context and projector facts of one GGUF file. */
export async function inspectModel(path: string): Promise<number> {
  const file = resolve(path);
  const model = await readTextModel(file).catch(() => undefined);
  const facts = model
    ? {
        kind: 'text model', architecture: model.architecture, name: model.name, size: formatGiB(model.fileBytes), weights: formatGiB(model.weightBytes),
        parameters: model.parameters, contextLength: model.contextLength, embedding: model.embedding, layers: model.layers,
        heads: model.heads, kvHeads: model.kvHeads, fileType: model.fileType, tensors: model.tensors,
      }
    : await readProjector(file).then((projector) => ({
        kind: 'vision projector (mmproj)', size: formatGiB(projector.fileBytes), weights: formatGiB(projector.weightBytes), projectorType: projector.projectorType,
        projectionDim: projector.projectionDim, imageSize: projector.imageSize, patchSize: projector.patchSize,
        visionWidth: projector.visionWidth, visionBlocks: projector.visionBlocks, tensors: projector.tensors,
      }));
  for (const [key, value] of Object.entries(facts)) if (value !== undefined) process.stdout.write(`${key.padEnd(15)} ${value}\n`);
  return ExitCode.ok;
}

/**
 * The planner's answer for a model on a device: real files (model + mmproj), or a reference
 * shape (--reference qwen3-vl-4b:Q4_K_M); this machine's device, or --memory 24 (GB).
 */
export async function planModel(files: string[], reference: string | undefined, memoryGb: string | undefined): Promise<number> {
  let dir: string | undefined;
  try {
    let pair;
    if (reference) {
      const [key, quant] = reference.split(':');
      if (!key || !referenceModels[key] || !quant || !referenceQuants.includes(quant)) {
        throw new CliError(`--reference must be one of ${Object.keys(referenceModels).join(', ')} with :${referenceQuants.join('|:')} (got ${reference})`, ExitCode.usage);
      }
      dir = await mkdtemp(join(tmpdir(), 'imagefleet-plan-'));
      const written = await writeReferenceModel(dir, key, quant);
      pair = await validateModelPair(written.model, written.mmproj, { headerOnly: true });
    } else {
      if (files.length !== 2) throw new CliError('models plan needs <model.gguf> <mmproj.gguf>, or --reference NAME:QUANT', ExitCode.usage);
      pair = await validateModelPair(resolve(files[0]!), resolve(files[1]!));
    }
    let device: DeviceMemory;
    if (memoryGb !== undefined) {
      const gb = Number(memoryGb);
      if (!(gb > 0)) throw new CliError(`--memory must be a number of GB (got ${memoryGb})`, ExitCode.usage);
      device = { kind: 'gpu', index: 0, name: `a ${gb} GB GPU`, totalBytes: gb * 1e9, freeBytes: gb * 1e9 - 0.5 * 1024 ** 3, source: 'simulated' };
    } else {
      device = await pinnedDevice(undefined);
    }
    // The largest image any model task sends: a CPU plan counts each slot's decoded copy of it.
    const maxSide = Math.max(...taskNames().map((name) => getTask(name)).flatMap((task) => (task?.kind === 'model' ? [task.budget.maxSide] : [])));
    const plan = await planEngine(pair.model, pair.projector, device, {
      contextPerSlot: contextPerSlotFor(pair), maxSlots: 256, requestedSlots: 0, marginBytes: 1024 ** 3, maxImagePixels: maxSide ** 2,
    });
    process.stdout.write(`${pair.model.name ?? pair.model.path}: ${describePlan(plan)}\n`);
    return ExitCode.ok;
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

/** Downloads a model (and its projector) with resume; prints the settings to use them. */
export async function pull(uri: string, mmprojUri: string | undefined, dir: string): Promise<number> {
  const target = resolve(dir);
  const progress = (label: string) => {
    let last = 0;
    return ({ downloadedBytes, totalBytes, bytesPerSecond }: { downloadedBytes: number; totalBytes: number; bytesPerSecond: number }) => {
      if (Date.now() - last < 500 && downloadedBytes < totalBytes) return;
      last = Date.now();
      const percent = totalBytes > 0 ? ((downloadedBytes / totalBytes) * 100).toFixed(1) : '?';
      process.stderr.write(`\r${label}: ${formatGiB(downloadedBytes)} / ${formatGiB(totalBytes)} (${percent}%) ${formatGiB(bytesPerSecond)}/s\x1b[K`);
    };
  };
  const model = await pullModel(uri, target, 'model', { onProgress: progress('model') });
  process.stderr.write('\n');
  const mmproj = mmprojUri ? await pullModel(mmprojUri, target, 'mmproj', { onProgress: progress('mmproj') }) : undefined;
  if (mmproj) process.stderr.write('\n');
  process.stdout.write(`MODEL_PATH=${model}\n${mmproj ? `MMPROJ_PATH=${mmproj}\n` : 'MMPROJ_PATH=  (pull the projector with --mmproj: a vision model needs both)\n'}`);
  return ExitCode.ok;
}
