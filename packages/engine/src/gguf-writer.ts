import { open } from 'node:fs/promises';

/** GGUF metadata value types (gguf.h). */
export const GgufType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

type ScalarType = Exclude<(typeof GgufType)[keyof typeof GgufType], 9>;

export type GgufValue =
  | { type: ScalarType; value: number | bigint | boolean | string }
  | { type: typeof GgufType.ARRAY; itemType: ScalarType; values: (number | bigint | boolean | string)[] };

/** ggml tensor types with their block layout: [type id, elements per block, bytes per block]. */
export const GgmlType = {
  F32: [0, 1, 4],
  F16: [1, 1, 2],
  Q4_0: [2, 32, 18],
  Q8_0: [8, 32, 34],
  Q4_K: [12, 256, 144],
  Q5_K: [13, 256, 176],
  Q6_K: [14, 256, 210],
} as const satisfies Record<string, readonly [number, number, number]>;
export type GgmlTypeName = keyof typeof GgmlType;

/** Encoded tensor data the writer can hold in memory (small tensors). */
export type EncodableType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0';

/**
 * Fills `out` with a tensor's next bytes (whole blocks of its type). The writer calls it chunk
 * after chunk, in order, until the tensor is complete; it never holds more than two chunks.
 */
export type TensorChunkFill = (out: Uint8Array) => void;
/** Makes a fresh filler for one pass over the tensor (each write starts again from the seed). */
export type TensorSource = () => TensorChunkFill;

interface TensorEntry {
  name: string;
  /** ggml order: the fastest-varying (input) dimension first. */
  dims: number[];
  type: GgmlTypeName;
  byteSize: number;
  /** Encoded bytes; absent for streamed tensors and for header-only (metadata) fixtures. */
  data?: Uint8Array;
  /** Streamed data, produced in chunks while the file is written. */
  source?: TensorSource;
}

/** One tensor as the header describes it; offset is relative to the start of the data section. */
export interface TensorInfo {
  name: string;
  dims: number[];
  type: GgmlTypeName;
  elements: number;
  byteSize: number;
  offset: number;
}

/** Bytes per streamed chunk (about 4 MiB, whole blocks, a multiple of 4 bytes). */
export function chunkBytesFor(type: GgmlTypeName): number {
  const [, , blockBytes] = GgmlType[type];
  const blocks = Math.floor((4 * 1024 * 1024) / blockBytes / 4) * 4;
  return blocks * blockBytes;
}

const conversion = new DataView(new ArrayBuffer(4));

/** IEEE half-precision bits of a number, rounded to nearest even (ggml's GGML_FP32_TO_FP16). */
export function f32ToF16Bits(value: number): number {
  conversion.setFloat32(0, value);
  const x = conversion.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const middle = 1 << (shift - 1);
    if (rest > middle || (rest === middle && half & 1)) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half += 1;
  return sign | half;
}

/** The number that IEEE half-precision bits stand for. */
export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * Encodes F32 values as a ggml tensor type, block for block as ggml's reference quantisers do:
 * Q8_0 = per 32 values an f16 scale (max |x| / 127) + 32 int8; Q4_0 = an f16 scale (the value of
 * largest magnitude / -8) + 16 bytes of nibbles (value j in the low nibble of byte j, value j+16
 * in its high nibble), each nibble q standing for (q - 8) x scale.
 */
export function encodeTensor(values: Float32Array, type: EncodableType): Uint8Array {
  const [, perBlock, blockBytes] = GgmlType[type];
  if (values.length % perBlock !== 0) throw new Error(`${values.length} values are not a multiple of the ${type} block (${perBlock})`);
  if (type === 'F32') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const out = new Uint8Array((values.length / perBlock) * blockBytes);
  const view = new DataView(out.buffer);
  if (type === 'F16') {
    for (let i = 0; i < values.length; i++) view.setUint16(i * 2, f32ToF16Bits(values[i]!), true);
    return out;
  }
  for (let block = 0; block < values.length / 32; block++) {
    const base = block * 32;
    const at = block * blockBytes;
    if (type === 'Q8_0') {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[base + j]!));
      const d = amax / 127;
      const id = d ? 1 / d : 0;
      view.setUint16(at, f32ToF16Bits(d), true);
      // roundf: halves away from zero.
      for (let j = 0; j < 32; j++) view.setInt8(at + 2 + j, Math.sign(values[base + j]! * id) * Math.round(Math.abs(values[base + j]! * id)));
    } else {
      let amax = 0;
      let max = 0;
      for (let j = 0; j < 32; j++) {
        const v = values[base + j]!;
        if (amax < Math.abs(v)) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const d = max / -8;
      const id = d ? 1 / d : 0;
      view.setUint16(at, f32ToF16Bits(d), true);
      for (let j = 0; j < 16; j++) {
        const low = Math.min(15, Math.trunc(Math.fround(values[base + j]! * id) + 8.5));
        const high = Math.min(15, Math.trunc(Math.fround(values[base + 16 + j]! * id) + 8.5));
        out[at + 2 + j] = low | (high << 4);
      }
    }
  }
  return out;
}

/** A little-endian byte sink that grows as needed. */
class ByteBuilder {
  private buffer = Buffer.alloc(1 << 16);
  length = 0;

  private ensure(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    const next = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + extra));
    this.buffer.copy(next, 0, 0, this.length);
    this.buffer = next;
  }

  u32(value: number): void {
    this.ensure(4);
    this.length = this.buffer.writeUInt32LE(value, this.length);
  }

  u64(value: number | bigint): void {
    this.ensure(8);
    this.length = this.buffer.writeBigUInt64LE(BigInt(value), this.length);
  }

  string(value: string): void {
    const bytes = Buffer.from(value, 'utf8');
    this.u64(bytes.length);
    this.bytes(bytes);
  }

  bytes(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  scalar(type: ScalarType, value: number | bigint | boolean | string): void {
    this.ensure(8);
    const b = this.buffer;
    switch (type) {
      case GgufType.UINT8: this.length = b.writeUInt8(Number(value), this.length); break;
      case GgufType.INT8: this.length = b.writeInt8(Number(value), this.length); break;
      case GgufType.UINT16: this.length = b.writeUInt16LE(Number(value), this.length); break;
      case GgufType.INT16: this.length = b.writeInt16LE(Number(value), this.length); break;
      case GgufType.UINT32: this.length = b.writeUInt32LE(Number(value), this.length); break;
      case GgufType.INT32: this.length = b.writeInt32LE(Number(value), this.length); break;
      case GgufType.FLOAT32: this.length = b.writeFloatLE(Number(value), this.length); break;
      case GgufType.BOOL: this.length = b.writeUInt8(value ? 1 : 0, this.length); break;
      case GgufType.UINT64: this.length = b.writeBigUInt64LE(BigInt(value as number), this.length); break;
      case GgufType.INT64: this.length = b.writeBigInt64LE(BigInt(value as number), this.length); break;
      case GgufType.FLOAT64: this.length = b.writeDoubleLE(Number(value), this.length); break;
      case GgufType.STRING: this.string(String(value)); break;
    }
  }

  padTo(alignment: number): void {
    const pad = (alignment - (this.length % alignment)) % alignment;
    this.bytes(new Uint8Array(pad));
  }

  result(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

/**
 * Writes GGUF v3 files: header, metadata, tensor infos and aligned tensor data in F32, F16, Q8_0
 * or Q4_0 (encoded from values) or in any type from a streamed source (synthetic models, written
 * in constant memory). Enough of the format for generated models; real ones come from
 * `imagefleet models pull`.
 */
export class GgufWriter {
  private readonly metadata = new Map<string, GgufValue>();
  private readonly tensors: TensorEntry[] = [];

  constructor(private readonly alignment = 32) {
    this.set('general.alignment', { type: GgufType.UINT32, value: alignment });
  }

  set(key: string, value: GgufValue): this {
    this.metadata.set(key, value);
    return this;
  }

  string(key: string, value: string): this {
    return this.set(key, { type: GgufType.STRING, value });
  }

  u32(key: string, value: number): this {
    return this.set(key, { type: GgufType.UINT32, value });
  }

  f32(key: string, value: number): this {
    return this.set(key, { type: GgufType.FLOAT32, value });
  }

  bool(key: string, value: boolean): this {
    return this.set(key, { type: GgufType.BOOL, value });
  }

  array(key: string, itemType: ScalarType, values: (number | string | boolean)[]): this {
    return this.set(key, { type: GgufType.ARRAY, itemType, values });
  }

  /** A tensor from F32 values, stored as `type` (encoded now: for small tensors). */
  tensor(name: string, dims: number[], data: Float32Array, type: EncodableType = 'F32'): this {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`tensor ${name}: ${dims.join('x')} needs ${count} values, got ${data.length}`);
    const bytes = encodeTensor(data, type);
    this.tensors.push({ name, dims, type, byteSize: bytes.byteLength, data: bytes });
    return this;
  }

  /**
   * A tensor whose bytes are produced while the file is written, chunk by chunk (about 4 MiB
   * each): memory stays constant however large the tensor.
   */
  tensorStream(name: string, dims: number[], type: GgmlTypeName, source: TensorSource): this {
    this.tensors.push({ name, dims, type, byteSize: byteSizeOf(name, dims, type), source });
    return this;
  }

  /** A tensor described in the header only (its data is never written): for planner fixtures. */
  tensorInfo(name: string, dims: number[], type: GgmlTypeName): this {
    this.tensors.push({ name, dims, type, byteSize: byteSizeOf(name, dims, type) });
    return this;
  }

  /** The tensors as the header lists them (names, shapes, types, sizes, offsets), without writing anything. */
  tensorInfos(): TensorInfo[] {
    let offset = 0;
    return this.tensors.map((tensor) => {
      offset = Math.ceil(offset / this.alignment) * this.alignment;
      const info = { name: tensor.name, dims: [...tensor.dims], type: tensor.type, elements: tensor.dims.reduce((a, b) => a * b, 1), byteSize: tensor.byteSize, offset };
      offset += tensor.byteSize;
      return info;
    });
  }

  /** The metadata values by key. */
  metadataEntries(): [string, GgufValue][] {
    return [...this.metadata];
  }

  /** The header alone (metadata and tensor infos, padded to the alignment): where the data would start. */
  headerBytes(): Buffer {
    return this.header().bytes;
  }

  /** Size of the file write() produces: header + aligned data. */
  fileBytes(): number {
    const last = this.tensorInfos().at(-1);
    return this.header().bytes.length + (last ? last.offset + last.byteSize : 0);
  }

  /** The whole file as bytes (tests and small models). */
  toBuffer(): Buffer {
    const header = this.header();
    const out = new ByteBuilder();
    out.bytes(header.bytes);
    for (const tensor of this.tensors) {
      if (!tensor.data && !tensor.source) continue;
      out.padTo(this.alignment);
      if (tensor.data) out.bytes(tensor.data);
      else for (const chunk of chunksOf(tensor)) out.bytes(chunk);
    }
    return out.result();
  }

  /**
   * Streams the file to disk one tensor, and for streamed tensors one chunk, at a time: the next
   * chunk is generated while the previous one is being written.
   */
  async write(path: string, options: { onProgress?(writtenBytes: number, totalBytes: number): void } = {}): Promise<void> {
    const header = this.header();
    const total = options.onProgress ? this.fileBytes() : 0;
    const file = await open(path, 'w');
    let position = 0;
    const put = async (bytes: Uint8Array) => {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await file.write(bytes, done, bytes.length - done, position + done);
        done += bytesWritten;
      }
      position += bytes.length;
      options.onProgress?.(position, total);
    };
    try {
      await put(header.bytes);
      for (const tensor of this.tensors) {
        if (!tensor.data && !tensor.source) continue;
        const pad = (this.alignment - (position % this.alignment)) % this.alignment;
        if (pad) await put(new Uint8Array(pad));
        if (tensor.data) {
          await put(tensor.data);
          continue;
        }
        let pending: Promise<void> | undefined;
        for (const chunk of chunksOf(tensor)) {
          await pending;
          pending = put(chunk);
        }
        await pending;
      }
    } finally {
      await file.close();
    }
  }

  private header(): { bytes: Buffer } {
    const out = new ByteBuilder();
    out.bytes(Buffer.from('GGUF', 'latin1'));
    out.u32(3);
    out.u64(this.tensors.length);
    out.u64(this.metadata.size);
    for (const [key, value] of this.metadata) {
      out.string(key);
      out.u32(value.type);
      if (value.type === GgufType.ARRAY) {
        out.u32(value.itemType);
        out.u64(value.values.length);
        for (const item of value.values) out.scalar(value.itemType, item);
      } else {
        out.scalar(value.type, value.value);
      }
    }
    let offset = 0;
    for (const tensor of this.tensors) {
      offset = Math.ceil(offset / this.alignment) * this.alignment;
      out.string(tensor.name);
      out.u32(tensor.dims.length);
      for (const dim of tensor.dims) out.u64(dim);
      out.u32(GgmlType[tensor.type][0]);
      out.u64(offset);
      offset += tensor.byteSize;
    }
    out.padTo(this.alignment);
    return { bytes: out.result() };
  }
}

function byteSizeOf(name: string, dims: number[], type: GgmlTypeName): number {
  const [, perBlock, blockBytes] = GgmlType[type];
  const count = dims.reduce((a, b) => a * b, 1);
  if (dims[0]! % perBlock !== 0) throw new Error(`tensor ${name}: rows of ${dims[0]} elements are not a multiple of the ${type} block (${perBlock})`);
  return (count / perBlock) * blockBytes;
}

/**
 * A streamed tensor's bytes, chunk after chunk, from a fresh filler. Two buffers take turns, so a
 * chunk handed out stays intact while the next one is filled; each starts 4-byte aligned.
 */
function* chunksOf(tensor: TensorEntry): Generator<Uint8Array> {
  const fill = tensor.source!();
  const size = Math.min(chunkBytesFor(tensor.type), tensor.byteSize);
  const buffers = [new Uint8Array(new ArrayBuffer(size)), new Uint8Array(new ArrayBuffer(size))];
  let turn = 0;
  for (let offset = 0; offset < tensor.byteSize; offset += size) {
    const chunk = buffers[turn++ & 1]!.subarray(0, Math.min(size, tensor.byteSize - offset));
    fill(chunk);
    yield chunk;
  }
}
