import type { PreparedImage } from '@imagefleet/imaging';
import { unknownOption, type PixelTask } from './task.js';
import { differenceHash, dominantColours, laplacianVariance, type DominantColour } from './image-metrics.js';

export interface InspectResult {
  /** Upright size of the source image (after EXIF rotation). */
  width: number;
  height: number;
  format: string;
  hasAlpha: boolean;
  exifRotated: boolean;
  bytes: number;
  dominantColours: DominantColour[];
  /** Variance of the Laplacian at up to 512 px; under ~100 usually means blurred. */
  sharpness: number;
  /** 64-bit difference hash, hex; Hamming distance <= 10 suggests a near-duplicate. */
  dhash: string;
}

/** Catalog image QA without a model: size, format, colours, sharpness and a perceptual hash. */
export const inspectTask: PixelTask<InspectResult> = {
  kind: 'pixels',
  name: 'inspect',
  version: 1,
  description: 'Dimensions, format, dominant colours, sharpness and a perceptual hash (no model)',
  budget: { maxSide: 512 },
  validateOptions: (options) => unknownOption('inspect', options, []),
  describe: (result) =>
    `${result.width}x${result.height} ${result.format}${result.exifRotated ? ' (EXIF-rotated)' : ''}  sharpness ${result.sharpness}  dhash ${result.dhash}  ` +
    result.dominantColours.map((colour) => `${colour.hex} ${Math.round(colour.share * 100)}%`).join(' '),
  async run(image: PreparedImage): Promise<InspectResult> {
    const { source } = image;
    const swapped = source.orientation !== undefined && source.orientation >= 5;
    const [colours, sharpness, dhash] = await Promise.all([dominantColours(image), laplacianVariance(image), differenceHash(image)]);
    return {
      width: swapped ? source.height : source.width,
      height: swapped ? source.width : source.height,
      format: source.format,
      hasAlpha: source.hasAlpha,
      exifRotated: image.exifRotated,
      bytes: source.bytes,
      dominantColours: colours,
      sharpness: Math.round(sharpness * 100) / 100,
      dhash,
    };
  },
};
