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

/** A prepared image encoded for a model engine: resized and encoded in the pipeline that decoded it. */
export interface PreparedJpeg extends Omit<PreparedImage, 'pixels' | 'channels'> {
  jpeg: Buffer;
}

/** What a prepared image is handed on as: raw pixels (pixel tasks), or a JPEG (model engines). */
export type PreparedAs = { as: 'pixels' } | { as: 'jpeg'; quality?: number };

/** An upright, not yet resized pipeline and the facts about its source. */
export interface UprightImage {
  upright: Sharp;
  source: SourceImageInfo;
}

/**
 * Validates and normalises an untrusted image: sniffs the format from its bytes, checks its
 * declared size against the pixel limit before decoding, applies EXIF orientation, and resizes
 * it to fit the budget. Every failure is an ImagefleetError with a permanent code. `page`
 * (0-based) picks one page of a multi-page TIFF or one frame of a GIF or WebP (default the first).
 */
export async function prepareImage(bytes: Buffer, limits: ImageLimits, budget: ImageBudget, { page }: { page?: number } = {}): Promise<PreparedImage> {
  return toBudget(await uprightImage(bytes, limits, page), budget, { as: 'pixels' });
}

/**
 * prepareImage for a model engine: the same checks and steps, and the result encoded as JPEG in
 * the same libvips pipeline (one decode, one encode; no raw pixels in between).
 */
export async function prepareJpeg(bytes: Buffer, limits: ImageLimits, budget: ImageBudget, { page, quality }: { page?: number; quality?: number } = {}): Promise<PreparedJpeg> {
  return toBudget(await uprightImage(bytes, limits, page), budget, { as: 'jpeg', quality });
}

/** Sniff, header and pixel-limit checks, then the upright pipeline (EXIF orientation applied). */
export async function uprightImage(bytes: Buffer, limits: ImageLimits, page: number | undefined): Promise<UprightImage> {
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
    if (sniffed.format === 'tiff' && (await wideTiffPages(bytes)) !== undefined) return wideTiffImage(bytes, page ?? 0, limits);
    throw decodeError(error);
  }
  const { width, height } = metadata;
  if (!width || !height) throw new ImagefleetError('corrupt_image', 'Image header declares no dimensions');
  if (width * height > limits.maxPixels) {
    throw new ImagefleetError('too_many_pixels', `Image is ${width}x${height} = ${width * height} pixels, over the limit of ${limits.maxPixels}`);
  }
  const hasAlpha = metadata.hasAlpha ?? false;
  const source = { format: sniffed.format, width, height, bytes: bytes.length, hasAlpha, orientation: metadata.orientation };
  return { upright: sharp(bytes, options).rotate(), source };
}

/**
 * The upright pipeline resized to the budget, in sRGB: raw pixels (alpha kept only when the
 * source has it), or a JPEG flattened on white.
 */
export async function toBudget(image: UprightImage, budget: ImageBudget, output: { as: 'pixels' }): Promise<PreparedImage>;
export async function toBudget(image: UprightImage, budget: ImageBudget, output: { as: 'jpeg'; quality?: number }): Promise<PreparedJpeg>;
export async function toBudget({ upright, source }: UprightImage, budget: ImageBudget, output: PreparedAs): Promise<PreparedImage | PreparedJpeg> {
  try {
    const pipeline = upright.resize({ width: budget.maxSide, height: budget.maxSide, fit: 'inside', withoutEnlargement: true }).toColourspace('srgb');
    const exifRotated = source.orientation !== undefined && source.orientation !== 1;
    if (output.as === 'jpeg') {
      const { data, info } = await pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: output.quality ?? 90 }).toBuffer({ resolveWithObject: true });
      return { source, exifRotated, width: info.width, height: info.height, jpeg: data };
    }
    const { data, info } = await (source.hasAlpha ? pipeline.ensureAlpha() : pipeline.removeAlpha())
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { source, exifRotated, width: info.width, height: info.height, channels: info.channels === 4 ? 4 : 3, pixels: data };
  } catch (error) {
    throw decodeError(error);
  }
}

/** A page of a TIFF whose samples libvips cannot read (over 32 bits), decoded by wide-tiff.ts, then as any image. */
async function wideTiffImage(bytes: Buffer, page: number, limits: ImageLimits): Promise<UprightImage> {
  const wide = await readWideTiffPage(bytes, page, limits.maxPixels);
  const source = { format: 'tiff' as const, width: wide.width, height: wide.height, bytes: bytes.length, hasAlpha: wide.channels % 2 === 0, orientation: undefined };
  return { upright: sharp(wide.pixels, { raw: { width: wide.width, height: wide.height, channels: wide.channels } }), source };
}
