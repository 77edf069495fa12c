import { LRUCache } from 'lru-cache';
import { deriveJobId } from '@imagefleet/core';
import { prepareJpeg } from '@imagefleet/imaging';
import type { BatchRecord } from '@imagefleet/jobs';
import type { ProducerDeps } from './deps.js';

/** The longer side of a console thumbnail, in pixels. */
export const THUMBNAIL_SIDE = 256;

/**
 * JPEG previews of a batch's inputs for the console, read from the batch's source and resized
 * with the worker's own validation (format sniffed, pixel limit, EXIF rotation): at most
 * MAX_IMAGE_BYTES read, the cache bounded by THUMBNAIL_CACHE_BYTES, least recently used dropped.
 */
export class Thumbnails {
  private readonly cache: LRUCache<string, Buffer>;

  constructor(private readonly deps: Pick<ProducerDeps, 'batches' | 'stores' | 'config'>) {
    this.cache = new LRUCache<string, Buffer>({ maxSize: Math.max(1, deps.config.thumbnailCacheBytes), sizeCalculation: (jpeg) => Math.max(1, jpeg.length) });
  }

  /**
   * The thumbnail of one input, or undefined when the batch has no outcome for that key: only
   * inputs the batch listed and finished are read, so a key is never a way into the source store.
   * Decoding failures throw the worker's ImagefleetError codes (empty, corrupt_image, ...).
   */
  async of(batch: BatchRecord, key: string): Promise<Buffer | undefined> {
    const cacheKey = `${batch.id}\n${key}`;
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;
    if (!(await this.deps.batches.outcome(batch.id, deriveJobId(batch.id, key)))) return undefined;
    const bytes = await this.deps.stores.open(batch.sourceStore).get(key, { maxBytes: this.deps.config.maxImageBytes });
    const { jpeg } = await prepareJpeg(bytes, { maxPixels: this.deps.config.maxImagePixels }, { maxSide: THUMBNAIL_SIDE }, { quality: 80 });
    this.cache.set(cacheKey, jpeg);
    return jpeg;
  }
}
