import { f32ToF16Bits, type GgmlTypeName, type TensorSource } from './gguf-writer.js';

/**
 * Random tensor data for synthetic models, produced chunk by chunk (constant memory) and the same
 * for the same seed. Quantised types are written as real blocks: Q8_0 = an f16 scale + 32 int8,
 * Q4_0 = an f16 scale + 16 bytes of nibbles, Q6_K = 128 + 64 bytes of 6-bit codes, 16 int8 sub-block
 * scales and an f16 scale. The codes are uniform random and the scales are set so that each
 * tensor's values have the standard deviation asked for: small, so activations stay finite.
 */
export type WeightInit = { kind: 'constant'; value: number } | { kind: 'normal'; std: number };

/** FNV-1a of a string: a tensor's name picks its stream, whatever the order tensors are written in. */
export function hashName(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

/** sfc32 (Chris Doty-Humphrey's small fast counting generator), seeded through splitmix32. */
export class Sfc32 {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number, stream = 0) {
    let s = (seed ^ Math.imul(stream, 0x9e3779b1)) >>> 0;
    const splitmix = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    for (let i = 0; i < 12; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Fills every byte of `out` (any length, any offset). */
  fillBytes(out: Uint8Array): void {
    const words = out.byteOffset % 4 === 0 ? Math.floor(out.length / 4) : 0;
    const u32 = new Uint32Array(out.buffer, out.byteOffset, words);
    let { a, b, c, d } = this;
    for (let i = 0; i < words; i++) {
      const t = (((a + b) | 0) + d) | 0;
      d = (d + 1) | 0;
      a = b ^ (b >>> 9);
      b = (c + (c << 3)) | 0;
      c = (c << 21) | (c >>> 11);
      c = (c + t) | 0;
      u32[i] = t;
    }
    Object.assign(this, { a, b, c, d });
    for (let i = words * 4; i < out.length; i++) out[i] = this.next() & 0xff;
  }
}

/** Acklam's inverse of the standard normal CDF (relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** 65,536 quantiles of N(0, std): a random 16-bit index draws a normal value. */
function normalTable(std: number): Float64Array {
  const table = new Float64Array(65536);
  for (let i = 0; i < 65536; i++) table[i] = std * normalQuantile((i + 0.5) / 65536);
  return table;
}

/** Standard deviation of uniform integers over [low, high]. */
const uniformStd = (low: number, high: number) => Math.sqrt(((high - low + 1) ** 2 - 1) / 12);
/** Q8_0 codes are uniform int8 (-128..127); Q4_0 nibbles stand for -8..7; Q6_K codes for -32..31 times an int8 sub-scale. */
export const CODE_STD = { Q8_0: uniformStd(-128, 127), Q4_0: uniformStd(-8, 7), Q6_K: uniformStd(-32, 31) * Math.sqrt((uniformStd(-128, 127) ** 2) + 0.25) } as const;

function setScales(out: Uint8Array, blockBytes: number, at: number, bits: number): void {
  for (let block = at; block < out.length; block += blockBytes) {
    out[block] = bits & 0xff;
    out[block + 1] = bits >>> 8;
  }
}

/** A source of random (or constant) data of one ggml type for one tensor. */
export function weightSource(type: GgmlTypeName, init: WeightInit, seed: number, name: string): TensorSource {
  return () => {
    const rng = new Sfc32(seed, hashName(name));
    if (init.kind === 'constant') {
      if (type === 'F32') return (out) => new Float32Array(out.buffer, out.byteOffset, out.length / 4).fill(init.value);
      if (type === 'F16') {
        const bits = f32ToF16Bits(init.value);
        return (out) => new Uint16Array(out.buffer, out.byteOffset, out.length / 2).fill(bits);
      }
      throw new Error(`tensor ${name}: constant ${type} data is not supported`);
    }
    switch (type) {
      case 'F32': {
        const table = normalTable(init.std);
        const scratch = new Uint8Array(new ArrayBuffer(chunkIndexBytes));
        return (out) => {
          const values = new Float32Array(out.buffer, out.byteOffset, out.length / 4);
          for (let start = 0; start < values.length; start += chunkIndexBytes / 2) {
            const count = Math.min(chunkIndexBytes / 2, values.length - start);
            const indices = new Uint16Array(scratch.buffer, 0, count);
            rng.fillBytes(new Uint8Array(scratch.buffer, 0, count * 2));
            for (let i = 0; i < count; i++) values[start + i] = table[indices[i]!]!;
          }
        };
      }
      case 'F16': {
        const table = new Uint16Array(65536);
        normalTable(init.std).forEach((value, index) => (table[index] = f32ToF16Bits(value)));
        return (out) => {
          rng.fillBytes(out);
          const halves = new Uint16Array(out.buffer, out.byteOffset, out.length / 2);
          for (let i = 0; i < halves.length; i++) halves[i] = table[halves[i]!]!;
        };
      }
      case 'Q8_0':
      case 'Q4_0': {
        const blockBytes = type === 'Q8_0' ? 34 : 18;
        const scale = f32ToF16Bits(init.std / CODE_STD[type]);
        return (out) => {
          rng.fillBytes(out);
          setScales(out, blockBytes, 0, scale);
        };
      }
      case 'Q6_K': {
        const scale = f32ToF16Bits(init.std / CODE_STD.Q6_K);
        return (out) => {
          rng.fillBytes(out);
          setScales(out, 210, 208, scale);
        };
      }
      default:
        throw new Error(`tensor ${name}: random ${type} data is not supported`);
    }
  };
}

const chunkIndexBytes = 1 << 20;
