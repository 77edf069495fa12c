import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { seededRandom } from '@imagefleet/core';

/** Deterministic pseudo-random generator (mulberry32). */
export const random = seededRandom;

/** A distinct image per seed: a few random rectangles and circles on a random background. */
export async function syntheticPhoto(seed: number, width = 320, height = 240, format: 'jpeg' | 'png' = 'jpeg'): Promise<Buffer> {
  const next = random(seed);
  const colour = () => `rgb(${Math.floor(next() * 256)},${Math.floor(next() * 256)},${Math.floor(next() * 256)})`;
  const shapes = Array.from({ length: 6 }, () =>
    next() < 0.5
      ? `<rect x="${next() * width}" y="${next() * height}" width="${20 + next() * width * 0.5}" height="${20 + next() * height * 0.5}" fill="${colour()}"/>`
      : `<circle cx="${next() * width}" cy="${next() * height}" r="${10 + next() * height * 0.3}" fill="${colour()}"/>`,
  ).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="${colour()}"/>${shapes}</svg>`;
  const image = sharp(Buffer.from(svg));
  return format === 'png' ? image.png().toBuffer() : image.jpeg({ quality: 85 }).toBuffer();
}

export async function solidColour(hex: string, width = 200, height = 150): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: hex } }).png().toBuffer();
}

/** Fine random texture: very sharp. */
export async function noise(width = 256, height = 256, seed = 1): Promise<Buffer> {
  const next = random(seed);
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor(next() * 256);
  return sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

export async function blurred(image: Buffer, sigma = 4): Promise<Buffer> {
  return sharp(image).blur(sigma).png().toBuffer();
}

/** The same picture re-encoded smaller and slightly brighter: a near-duplicate. */
export async function nearDuplicate(image: Buffer): Promise<Buffer> {
  const { width } = await sharp(image).metadata();
  return sharp(image).resize(Math.round(width! * 0.8)).modulate({ brightness: 1.05 }).jpeg({ quality: 70 }).toBuffer();
}

export function truncated(image: Buffer): Buffer {
  return image.subarray(0, Math.floor(image.length / 2));
}

/** A valid tiny PNG whose header declares width x height (CRC fixed), e.g. 30000x30000. */
export async function pngDeclaring(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await sharp({ create: { width: 4, height: 4, channels: 3, background: '#f00' } }).png().toBuffer());
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)) >>> 0, 29);
  return png;
}

/** A photo stored rotated with EXIF orientation 6: upright it is width x height. */
export async function exifRotated(width = 300, height = 200): Promise<Buffer> {
  const upright = await syntheticPhoto(7, width, height);
  return sharp(upright).rotate(-90).jpeg().withMetadata({ orientation: 6 }).toBuffer();
}
