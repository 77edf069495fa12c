import { fromArrayBuffer, type GeoTIFF, type GeoTIFFImage } from 'geotiff';
import { ImagefleetError } from '@imagefleet/core';

/**
 * TIFFs with samples wider than 32 bits (64-bit floating point, as scientific tools such as
 * tifffile and scikit-image write them) are refused by libvips' TIFF reader ("tiff2vips: samples
 * out of range": it reads at most 32 bits per sample). These are read with geotiff.js (MIT) and
 * brought to 8 bits here; everything else stays with libvips.
 */

const TIFF_SAMPLE_FORMAT = 339;
const SAMPLE_FORMAT_FLOAT = 3;
const LIBVIPS_MAX_BITS = 32;

/** 8-bit interleaved pixels of one page. */
export interface WidePage {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  pixels: Buffer;
}

async function open(bytes: Buffer): Promise<GeoTIFF | undefined> {
  try {
    return await fromArrayBuffer(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer);
  } catch {
    return undefined;
  }
}

const isWide = (image: GeoTIFFImage) => image.getBitsPerSample() > LIBVIPS_MAX_BITS;

/**
 * The TIFF's page count when its first page has samples libvips cannot read (over 32 bits);
 * undefined for any other bytes, which libvips judges as before.
 */
export async function wideTiffPages(bytes: Buffer): Promise<number | undefined> {
  const tiff = await open(bytes);
  if (!tiff) return undefined;
  try {
    return isWide(await tiff.getImage(0)) ? await tiff.getImageCount() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * TIFF 6.0 asks for one SampleFormat value per sample, but writers (tifffile among them) often
 * give one for all, which libtiff accepts and geotiff.js does not (it reads a format per sample).
 */
function repeatSampleFormat(image: GeoTIFFImage): void {
  const directory = image.fileDirectory;
  const formats = directory.getValue('SampleFormat') as number[] | undefined;
  const samples = image.getSamplesPerPixel();
  if (formats && formats.length < samples) directory.actualizedFields.set(TIFF_SAMPLE_FORMAT, Array.from({ length: samples }, (_, index) => formats[index] ?? formats[0]!));
}

/**
 * Samples to 0-255: floating point in [0, 1] (the usual range of float images) scaled by 255,
 * anything else stretched from its lowest to its highest value (a constant page is black).
 */
function toBytes(samples: ArrayLike<number>, float: boolean): Buffer {
  let low = Infinity;
  let high = -Infinity;
  for (let index = 0; index < samples.length; index++) {
    const value = samples[index]!;
    if (Number.isFinite(value)) {
      if (value < low) low = value;
      if (value > high) high = value;
    }
  }
  const unit = float && low >= 0 && high <= 1;
  const offset = unit ? 0 : low;
  const scale = unit ? 255 : high > low ? 255 / (high - low) : 0;
  const out = Buffer.alloc(samples.length);
  for (let index = 0; index < samples.length; index++) {
    const value = samples[index]!;
    out[index] = Number.isFinite(value) ? Math.round(Math.min(255, Math.max(0, (value - offset) * scale))) : 0;
  }
  return out;
}

/**
 * One page (0-based) of a TIFF with wide samples, as 8-bit pixels; its declared size is checked
 * against maxPixels before any pixel is read. A page it cannot read fails as corrupt_image.
 */
export async function readWideTiffPage(bytes: Buffer, page: number, maxPixels: number): Promise<WidePage> {
  const tiff = await open(bytes);
  if (!tiff) throw new ImagefleetError('corrupt_image', 'The TIFF could not be read');
  let image: GeoTIFFImage;
  try {
    image = await tiff.getImage(page);
  } catch (error) {
    throw new ImagefleetError('corrupt_image', `TIFF page ${page + 1} could not be read: ${(error as Error).message}`, { cause: error });
  }
  const width = image.getWidth();
  const height = image.getHeight();
  if (width * height > maxPixels) {
    throw new ImagefleetError('too_many_pixels', `Image is ${width}x${height} = ${width * height} pixels, over the limit of ${maxPixels}`);
  }
  const channels = image.getSamplesPerPixel();
  if (channels < 1 || channels > 4) throw new ImagefleetError('corrupt_image', `TIFF page ${page + 1} has ${channels} samples per pixel; 1 to 4 are read`);
  repeatSampleFormat(image);
  try {
    const samples = (await image.readRasters({ interleave: true })) as unknown as ArrayLike<number>;
    return { width, height, channels: channels as WidePage['channels'], pixels: toBytes(samples, image.getSampleFormat() === SAMPLE_FORMAT_FLOAT) };
  } catch (error) {
    throw new ImagefleetError('corrupt_image', `TIFF page ${page + 1} could not be decoded: ${(error as Error).message}`, { cause: error });
  }
}
