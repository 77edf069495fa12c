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
  Q8_0: [8, 32, 34],
  Q4_K: [12, 256, 144],
  Q5_K: [13, 256, 176],
  Q6_K: [14, 256, 210],
} as const satisfies Record<string, readonly [number, number, number]>;
export type GgmlTypeName = keyof typeof GgmlType;

interface TensorEntry {
  name: string;
  /** ggml order: the fastest-varying (input) dimension first. */
  dims: number[];
  type: GgmlTypeName;
  byteSize: number;
  /** F32 values; absent for header-only (metadata) fixtures. */
  data?: Float32Array;
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
 * Writes GGUF v3 files (header, metadata, tensor infos, aligned F32 tensor data). Enough of the
 * format for generated test models; real models come from `imagefleet models pull`.
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

  tensor(name: string, dims: number[], data: Float32Array): this {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`tensor ${name}: ${dims.join('x')} needs ${count} values, got ${data.length}`);
    this.tensors.push({ name, dims, type: 'F32', byteSize: data.byteLength, data });
    return this;
  }

  /** A tensor described in the header only (its data is never written): for planner fixtures. */
  tensorInfo(name: string, dims: number[], type: GgmlTypeName): this {
    const [, perBlock, blockBytes] = GgmlType[type];
    const count = dims.reduce((a, b) => a * b, 1);
    if (count % perBlock !== 0) throw new Error(`tensor ${name}: ${count} elements are not a multiple of the ${type} block (${perBlock})`);
    this.tensors.push({ name, dims, type, byteSize: (count / perBlock) * blockBytes });
    return this;
  }

  /** The whole file as bytes (tests and small models). */
  toBuffer(): Buffer {
    const header = this.header();
    const out = new ByteBuilder();
    out.bytes(header.bytes);
    for (const tensor of this.tensors) {
      if (!tensor.data) continue;
      out.padTo(this.alignment);
      out.bytes(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength));
    }
    return out.result();
  }

  /** Streams the file to disk, one tensor at a time. */
  async write(path: string): Promise<void> {
    const header = this.header();
    const file = await open(path, 'w');
    try {
      await file.write(header.bytes);
      let position = header.bytes.length;
      for (const tensor of this.tensors) {
        if (!tensor.data) continue;
        const pad = (this.alignment - (position % this.alignment)) % this.alignment;
        if (pad) await file.write(new Uint8Array(pad));
        position += pad;
        const bytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
        await file.write(bytes);
        position += bytes.length;
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
