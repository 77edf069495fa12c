import { ImagefleetError, canonicalJson, sha256Hex } from '@imagefleet/core';
import type { BlobStore } from './blob-store.js';

/** Under the results store's root; the '-' keeps it apart from every batch id (letters, digits, _). */
export const RESULT_CACHE_PREFIX = '_result-cache/';

/** What makes two analyses the same: equal parts, equal key. */
export interface ResultCacheKeyParts {
  /** SHA-256 (hex) of the source object's bytes as fetched. */
  sourceSha256: string;
  task: string;
  taskVersion: number;
  /** The batch's options (compared as canonical JSON: key order does not matter). */
  options: Record<string, unknown>;
  /** The worker's MODEL_ID. */
  modelId: string;
  /** A document's page (the bytes are the whole document's); absent for an image. */
  page?: number;
}

/** One stored entry: the result, where it came from, and when it stops being reused. */
export interface ResultCacheEntry {
  /** The entry format; an entry of another format is a miss. */
  format: 1;
  key: string;
  task: string;
  taskVersion: number;
  modelId: string;
  /** The batch and source key whose run computed it. */
  batchId: string;
  sourceKey: string;
  createdAt: string;
  expiresAt: string;
  result: unknown;
}

const MAX_ENTRY_BYTES = 64 * 1024 * 1024;
const DAY_MS = 86_400_000;

/** The cache key: SHA-256 of the canonical JSON of every part. */
export function resultCacheKey({ page, ...parts }: ResultCacheKeyParts): string {
  // An image's key stays what it was before documents existed.
  return sha256Hex(canonicalJson({ format: 1, ...parts, ...(page === undefined ? {} : { page }) }));
}

/** `_result-cache/<first two hex digits>/<key>.json`: the prefix spreads entries over 256 folders. */
export function resultCachePath(key: string): string {
  return `${RESULT_CACHE_PREFIX}${key.slice(0, 2)}/${key}.json`;
}

function isEntry(value: unknown, key: string): value is ResultCacheEntry {
  const entry = value as Partial<ResultCacheEntry> | null;
  return !!entry && entry.format === 1 && entry.key === key && typeof entry.batchId === 'string' && typeof entry.expiresAt === 'string' && 'result' in entry;
}

/**
 * Content-addressed results kept in a results store (no second database). An entry past its
 * expiry, or one that does not parse as an entry of this key, is a miss (the next save overwrites
 * it). Store errors other than not_found are thrown: the caller decides what a failed lookup means.
 */
export class ResultCache {
  constructor(private readonly ttlDays: number) {}

  async lookup(store: BlobStore, key: string, now = Date.now()): Promise<ResultCacheEntry | undefined> {
    let body: Buffer;
    try {
      body = await store.get(resultCachePath(key), { maxBytes: MAX_ENTRY_BYTES });
    } catch (error) {
      if (error instanceof ImagefleetError && error.code === 'not_found') return undefined;
      throw error;
    }
    let entry: unknown;
    try {
      entry = JSON.parse(body.toString('utf8'));
    } catch {
      return undefined;
    }
    if (!isEntry(entry, key) || !(Date.parse(entry.expiresAt) > now)) return undefined;
    return entry;
  }

  async save(store: BlobStore, key: string, parts: Omit<ResultCacheKeyParts, 'sourceSha256' | 'options'>, from: { batchId: string; sourceKey: string; result: unknown }, now = Date.now()): Promise<ResultCacheEntry> {
    const entry: ResultCacheEntry = {
      format: 1,
      key,
      task: parts.task,
      taskVersion: parts.taskVersion,
      modelId: parts.modelId,
      batchId: from.batchId,
      sourceKey: from.sourceKey,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.ttlDays * DAY_MS).toISOString(),
      result: from.result,
    };
    await store.put(resultCachePath(key), JSON.stringify(entry), { contentType: 'application/json' });
    return entry;
  }
}
