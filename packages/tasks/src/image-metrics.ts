import { greyscale, rasterize, type PreparedImage } from '@imagefleet/imaging';

/**
 * Difference hash (dHash): 9x8 greyscale, one bit per horizontal neighbour pair.
 * Near-duplicates (re-encoded, resized, slightly edited) differ in few bits.
 */
export async function differenceHash(image: PreparedImage): Promise<string> {
  const { data } = await rasterize(image, { width: 9, height: 8 }, 'grey');
  let hash = 0n;
  for (let row = 0; row < 8; row++) {
    for (let column = 0; column < 8; column++) {
      const left = data[row * 9 + column]!;
      const right = data[row * 9 + column + 1]!;
      hash = (hash << 1n) | (left > right ? 1n : 0n);
    }
  }
  return hash.toString(16).padStart(16, '0');
}

export function hammingDistance(hashA: string, hashB: string): number {
  let difference = BigInt(`0x${hashA}`) ^ BigInt(`0x${hashB}`);
  let count = 0;
  while (difference > 0n) {
    count += Number(difference & 1n);
    difference >>= 1n;
  }
  return count;
}

/** Variance of the 4-neighbour Laplacian of the greyscale image: low for blurred or flat images. */
export async function laplacianVariance(image: PreparedImage): Promise<number> {
  const { data, width, height } = await greyscale(image);
  if (width < 3 || height < 3) return 0;
  let sum = 0;
  let sumOfSquares = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const laplacian = data[i - width]! + data[i + width]! + data[i - 1]! + data[i + 1]! - 4 * data[i]!;
      sum += laplacian;
      sumOfSquares += laplacian * laplacian;
    }
  }
  const count = (width - 2) * (height - 2);
  const mean = sum / count;
  return sumOfSquares / count - mean * mean;
}

export interface DominantColour {
  hex: string;
  /** Fraction of the image's pixels in this colour's bin. */
  share: number;
}

/**
 * Most common opaque colours: 64x64 sample points (nearest neighbour, so flat areas keep their exact
 * colour) in 8 levels per channel; each bin reports its mean colour and share.
 */
export async function dominantColours(image: PreparedImage, count = 3, minShare = 0.05): Promise<DominantColour[]> {
  const { data, channels } = await rasterize(image, { width: 64, height: 64 }, 'rgba', 'nearest');
  const bins = new Map<number, { r: number; g: number; b: number; n: number }>();
  let pixels = 0;
  for (let i = 0; i < data.length; i += channels) {
    if (data[i + 3]! < 128) continue; // transparent pixels have no colour worth reporting
    pixels += 1;
    const r = data[i]!;
    const g = data[i + 1]!;
    const b = data[i + 2]!;
    const bin = ((r >> 5) << 6) | ((g >> 5) << 3) | (b >> 5);
    const entry = bins.get(bin) ?? { r: 0, g: 0, b: 0, n: 0 };
    entry.r += r;
    entry.g += g;
    entry.b += b;
    entry.n += 1;
    bins.set(bin, entry);
  }
  const hex = (value: number) => Math.round(value).toString(16).padStart(2, '0');
  return [...bins.values()]
    .sort((a, b) => b.n - a.n)
    .filter((entry) => entry.n / pixels >= minShare)
    .slice(0, count)
    .map((entry) => ({
      hex: `#${hex(entry.r / entry.n)}${hex(entry.g / entry.n)}${hex(entry.b / entry.n)}`,
      share: Math.round((entry.n / pixels) * 1000) / 1000,
    }));
}
