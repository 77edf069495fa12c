import sharp from 'sharp';
import type { Metadata, Sharp } from 'sharp';
import { ImagefleetError } from '@imagefleet/core';
import { sniffImageFormat, type ImageFormat } from './sniff.js';
import { readWideTiffPage, wideTiffPages } from './wide-tiff.js';

// libvips' operation cache only helps when the same image is processed again; a worker sees a
// stream of distinct images, so the cache would only hold memory.
sharp.cache(false);

export interface ImageLimits {
  /** Largest width x height decoded; larger images fail with too_many_pixels before decoding. */
  maxPixels: number;
}

export interface ImageBudget {
  /** The longer side of the prepared image, in pixels; smaller images are not enlarged. */
  maxSide: number;
}

/** Facts about the input as it arrived. */
export interface SourceImageInfo {
  /** 'pdf' for a rendered PDF page. */
  format: ImageFormat | 'pdf';
  width: number;
  height: number;
  bytes: number;
  hasAlpha: boolean;
  /** EXIF orientation tag (1-8) when present. */
  orientation: number | undefined;
}

/** A decoded, upright image resized to a budget: raw interleaved pixels, decoded exactly once. */
export interface PreparedImage {
  source: SourceImageInfo;
  /** True when an EXIF orientation other than 1 was applied. */
  exifRotated: boolean;
  width: number;
  height: number;
  channels: 3 | 4;
  pixels: Buffer;
}

/** Maps libvips failures to stable error codes. */
function decodeError(error: unknown): ImagefleetError {
  const message = (error as Error).message ?? String(error);
  if (/exceeds pixel limit/i.test(message)) return new ImagefleetError('too_many_pixels', `Image too large to decode: ${message}`, { cause: error });
  if (/unsupported image format/i.test(message)) return new ImagefleetError('not_an_image', `Not a decodable image: ${message}`, { cause: error });
  return new ImagefleetError('corrupt_image', `Image could not be decoded: ${message}`, { cause: error });
}

/**
 * Validates and normalises an untrusted image: sniffs the format from its bytes, checks its
 * declared size against the pixel limit before decoding, applies EXIF orientation, and resizes
 * it to fit the budget. Every failure is an ImagefleetError with a permanent code. `page`
 * (0-based) picks one page of a multi-page TIFF or one frame of a GIF or WebP (default the first).
 */
export async function prepareImage(bytes: Buffer, limits: ImageLimits, budget: ImageBudget, { page }: { page?: number } = {}): Promise<PreparedImage> {
  const sniffed = sniffImageFormat(bytes);
  if (sniffed.kind === 'empty') throw new ImagefleetError('empty', 'The object is empty (0 bytes)');
  if (sniffed.kind === 'unknown') {
    throw new ImagefleetError('not_an_image', 'Not an image: the bytes match no supported format (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIF)');
  }
  const options = { limitInputPixels: limits.maxPixels, failOn: 'error' as const, ...(page === undefined ? {} : { page }) };
  let metadata: Metadata;
  try {
    // Header only (no pixels are decoded), so our own limit check below can name the size.
    metadata = await sharp(bytes, { ...options, limitInputPixels: false }).metadata();
  } catch (error) {
    if (sniffed.format === 'tiff' && (await wideTiffPages(bytes)) !== undefined) return prepareWideTiff(bytes, page ?? 0, limits, budget);
    throw decodeError(error);
  }
  const { width, height } = metadata;
  if (!width || !height) throw new ImagefleetError('corrupt_image', 'Image header declares no dimensions');
  if (width * height > limits.maxPixels) {
    throw new ImagefleetError('too_many_pixels', `Image is ${width}x${height} = ${width * height} pixels, over the limit of ${limits.maxPixels}`);
  }
  const hasAlpha = metadata.hasAlpha ?? false;
  const source = { format: sniffed.format, width, height, bytes: bytes.length, hasAlpha, orientation: metadata.orientation };
  return toBudget(sharp(bytes, options).rotate(), source, budget);
}

/** The upright pipeline resized to the budget, as raw sRGB pixels (alpha kept only when the source has it). */
async function toBudget(upright: Sharp, source: SourceImageInfo, budget: ImageBudget): Promise<PreparedImage> {
  try {
    const pipeline = upright.resize({ width: budget.maxSide, height: budget.maxSide, fit: 'inside', withoutEnlargement: true }).toColourspace('srgb');
    const { data, info } = await (source.hasAlpha ? pipeline.ensureAlpha() : pipeline.removeAlpha())
      .raw()
      .toBuffer({ resolveWithObject: true });
    return {
      source,
      exifRotated: source.orientation !== undefined && source.orientation !== 1,
      width: info.width,
      height: info.height,
      channels: info.channels === 4 ? 4 : 3,
      pixels: data,
    };
  } catch (error) {
    throw decodeError(error);
  }
}

/** A page of a TIFF whose samples libvips cannot read (over 32 bits), decoded by wide-tiff.ts, then as any image. */
async function prepareWideTiff(bytes: Buffer, page: number, limits: ImageLimits, budget: ImageBudget): Promise<PreparedImage> {
  const wide = await readWideTiffPage(bytes, page, limits.maxPixels);
  const source = { format: 'tiff' as const, width: wide.width, height: wide.height, bytes: bytes.length, hasAlpha: wide.channels % 2 === 0, orientation: undefined };
  return toBudget(sharp(wide.pixels, { raw: { width: wide.width, height: wide.height, channels: wide.channels } }), source, budget);
}
