import sharp from 'sharp';
import type { Sharp } from 'sharp';
import type { PreparedImage } from './prepare.js';

export interface Raster {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
}

function fromPrepared(image: PreparedImage): Sharp {
  return sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: image.channels } });
}

/** Resamples a prepared image to exactly width x height (aspect ignored), as greyscale or RGBA raw pixels. */
export async function rasterize(
  image: PreparedImage,
  size: { width: number; height: number },
  colour: 'grey' | 'rgba',
  kernel: 'cubic' | 'nearest' = 'cubic',
): Promise<Raster> {
  let pipeline = fromPrepared(image).resize({ width: size.width, height: size.height, fit: 'fill', kernel });
  pipeline = colour === 'grey' ? pipeline.greyscale() : pipeline.ensureAlpha();
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** Greyscale pixels of the prepared image at its own size. */
export async function greyscale(image: PreparedImage): Promise<Raster> {
  const { data, info } = await fromPrepared(image).greyscale().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}
