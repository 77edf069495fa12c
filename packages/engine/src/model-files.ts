import { stat } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { GgufInsights, readGgufFileInfo, type GgufFileInfo } from 'node-llama-cpp';

/** A model file problem found before loading; the worker refuses to start with this message. */
export class ModelFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelFileError';
  }
}

export interface TextModelFacts {
  path: string;
  /** node-llama-cpp's view of the file: weight bytes and KV/compute estimates for the planner. */
  insights: GgufInsights;
  /** Bytes of all tensors (what loading the weights costs). */
  weightBytes: number;
  architecture: string;
  name: string | undefined;
  fileBytes: number;
  parameters: number | undefined;
  contextLength: number | undefined;
  embedding: number | undefined;
  layers: number | undefined;
  heads: number | undefined;
  kvHeads: number | undefined;
  fileType: number | undefined;
  tensors: number;
}

export interface ProjectorFacts {
  path: string;
  weightBytes: number;
  fileBytes: number;
  projectorType: string | undefined;
  projectionDim: number | undefined;
  imageSize: number | undefined;
  patchSize: number | undefined;
  visionWidth: number | undefined;
  visionBlocks: number | undefined;
  tensors: number;
}

type Metadata = Record<string, unknown>;

function pick(metadata: Metadata, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Metadata)[key] : undefined), metadata);
}

const asNumber = (value: unknown) => (typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : undefined);

/** Reads the GGUF header of a file, with errors that name the file and the problem. */
/** headerOnly: metadata fixtures that describe tensors without holding their data. */
export interface ReadOptions {
  headerOnly?: boolean;
}

async function readHeader(path: string, role: string, options: ReadOptions = {}) {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new ModelFileError(`${role} file not found: ${path}`);
  if (!info.isFile()) throw new ModelFileError(`${role} path is not a file: ${path}`);
  const handle = await open(path, 'r');
  const magic = Buffer.alloc(4);
  await handle.read(magic, 0, 4, 0);
  await handle.close();
  if (magic.toString('latin1') !== 'GGUF') throw new ModelFileError(`${role} file is not a GGUF file (bad magic bytes): ${path}`);
  let header: GgufFileInfo;
  try {
    header = await readGgufFileInfo(path, { logWarnings: false, ignoreKeys: ['tokenizer.ggml.merges', 'tokenizer.ggml.token_type', 'tokenizer.ggml.scores'] });
  } catch (error) {
    throw new ModelFileError(`${role} file is not a readable GGUF file (${(error as Error).message}): ${path}`, { cause: error });
  }
  if (!(header.metadata as unknown as Metadata | undefined)?.general) {
    throw new ModelFileError(`${role} file is not a readable GGUF file (the header has no metadata; truncated?): ${path}`);
  }
  let insights: GgufInsights;
  try {
    insights = await GgufInsights.from(header);
  } catch (error) {
    throw new ModelFileError(`${role} file could not be analysed (${(error as Error).message}): ${path}`, { cause: error });
  }
  if (!options.headerOnly && insights.modelSize > info.size) {
    throw new ModelFileError(`${role} file is truncated: its tensors need ${insights.modelSize} bytes but the file has ${info.size} (interrupted download?): ${path}`);
  }
  return { header, fileBytes: info.size, insights };
}

/** Reads and checks the text model (never a projector). */
export async function readTextModel(path: string, options: ReadOptions = {}): Promise<TextModelFacts> {
  const { header, fileBytes, insights } = await readHeader(path, 'model', options);
  const metadata = header.metadata as unknown as Metadata;
  const architecture = String(pick(metadata, 'general.architecture') ?? '');
  if (architecture === 'clip' || architecture === 'mtmd') {
    throw new ModelFileError(`model file is a vision projector (architecture ${architecture}), not a text model; did you swap MODEL_PATH and MMPROJ_PATH? ${path}`);
  }
  if (architecture === '') throw new ModelFileError(`model file has no general.architecture: ${path}`);
  const block = (key: string) => asNumber(pick(metadata, `${architecture}.${key}`));
  return {
    path,
    insights,
    weightBytes: insights.modelSize,
    architecture,
    name: pick(metadata, 'general.name') as string | undefined,
    fileBytes,
    parameters: asNumber(pick(metadata, 'general.parameter_count')),
    contextLength: block('context_length'),
    embedding: block('embedding_length'),
    layers: block('block_count'),
    heads: block('attention.head_count'),
    kvHeads: block('attention.head_count_kv') ?? block('attention.head_count'),
    fileType: asNumber(pick(metadata, 'general.file_type')),
    tensors: header.tensorInfo?.length ?? 0,
  };
}

/** Reads and checks the projector (mmproj): a clip model with a vision encoder. */
export async function readProjector(path: string, options: ReadOptions = {}): Promise<ProjectorFacts> {
  const { header, fileBytes, insights } = await readHeader(path, 'projector (mmproj)', options);
  const metadata = header.metadata as unknown as Metadata;
  const architecture = String(pick(metadata, 'general.architecture') ?? '');
  if (architecture !== 'clip') {
    throw new ModelFileError(`projector (mmproj) file has architecture "${architecture}", expected "clip"; did you swap MODEL_PATH and MMPROJ_PATH? ${path}`);
  }
  if (pick(metadata, 'clip.has_vision_encoder') === false) throw new ModelFileError(`projector (mmproj) file has no vision encoder: ${path}`);
  return {
    path,
    weightBytes: insights.modelSize,
    fileBytes,
    projectorType: pick(metadata, 'clip.projector_type') as string | undefined,
    projectionDim: asNumber(pick(metadata, 'clip.vision.projection_dim')),
    imageSize: asNumber(pick(metadata, 'clip.vision.image_size')),
    patchSize: asNumber(pick(metadata, 'clip.vision.patch_size')),
    visionWidth: asNumber(pick(metadata, 'clip.vision.embedding_length')),
    visionBlocks: asNumber(pick(metadata, 'clip.vision.block_count')),
    tensors: header.tensorInfo?.length ?? 0,
  };
}

export interface ModelPair {
  model: TextModelFacts;
  projector: ProjectorFacts;
}

/**
 * Validates a text model + projector pair before any load. llama.cpp segfaults on a missing or
 * garbage file and fails with a generic message when the projector does not fit the model;
 * these checks turn each case into one clear sentence.
 */
export async function validateModelPair(modelPath: string, mmprojPath: string, options: ReadOptions = {}): Promise<ModelPair> {
  // One after the other: the first insights of a process initialise node-llama-cpp's binding, and
  // two of those at once were seen to fail once under load.
  const model = await readTextModel(modelPath, options);
  const projector = await readProjector(mmprojPath, options);
  if (projector.projectionDim !== undefined && model.embedding !== undefined && projector.projectionDim !== model.embedding) {
    throw new ModelFileError(
      `projector output size ${projector.projectionDim} differs from the text model's embedding size ${model.embedding}: ${mmprojPath} does not belong to ${modelPath}`,
    );
  }
  return { model, projector };
}
