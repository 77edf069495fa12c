import { stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type { BatchSource } from '@imagefleet/core';

/** Extensions worth enqueueing; the worker still sniffs the bytes of everything it gets. */
const IMAGE_EXTENSIONS = new Set(['jpg', 'jpeg', 'jpe', 'png', 'webp', 'gif', 'tif', 'tiff', 'avif', 'heic', 'heif']);

export function looksLikeImage(key: string): boolean {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot > 0 && IMAGE_EXTENSIONS.has(name.slice(dot + 1).toLowerCase());
}

export class SourceError extends Error {}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
export const MAX_SOURCE_KEYS = 100_000;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks the shape of a batch source and names the first bad field. */
export function parseSource(raw: unknown): BatchSource {
  if (!isObject(raw)) throw new SourceError('source must be an object');
  const kinds = ['s3', 'keys', 'local'].filter((kind) => kind in raw);
  if (kinds.length !== 1) throw new SourceError('source must have exactly one of "s3", "keys" (with "bucket") or "local"');
  if (kinds[0] === 's3') {
    const s3 = raw.s3;
    if (!isObject(s3)) throw new SourceError('source.s3 must be an object with bucket and prefix');
    if (typeof s3.bucket !== 'string' || !BUCKET.test(s3.bucket)) throw new SourceError('source.s3.bucket must be a valid bucket name');
    if (s3.prefix !== undefined && typeof s3.prefix !== 'string') throw new SourceError('source.s3.prefix must be a string');
    return { s3: { bucket: s3.bucket, prefix: (s3.prefix as string | undefined) ?? '' } };
  }
  if (kinds[0] === 'keys') {
    if (typeof raw.bucket !== 'string' || !BUCKET.test(raw.bucket)) throw new SourceError('source.bucket must be a valid bucket name');
    const keys = raw.keys;
    if (!Array.isArray(keys) || keys.length === 0) throw new SourceError('source.keys must be a non-empty array of object keys');
    if (keys.length > MAX_SOURCE_KEYS) throw new SourceError(`source.keys has ${keys.length} keys; at most ${MAX_SOURCE_KEYS} per request (use an s3 prefix)`);
    const bad = keys.findIndex((key) => typeof key !== 'string' || key === '' || key.length > 1024);
    if (bad >= 0) throw new SourceError(`source.keys[${bad}] must be a non-empty string of at most 1024 characters`);
    return { keys: [...new Set(keys as string[])], bucket: raw.bucket };
  }
  const local = raw.local;
  if (!isObject(local) || typeof local.path !== 'string' || !isAbsolute(local.path)) {
    throw new SourceError('source.local.path must be an absolute directory path');
  }
  return { local: { path: resolve(local.path) } };
}

/** The store to read from (s3://bucket or a directory) and the key prefix to list. */
export async function resolveSourceStore(source: BatchSource, localRoots: string[]): Promise<string> {
  if ('s3' in source) return `s3://${source.s3.bucket}`;
  if ('keys' in source) return `s3://${source.bucket}`;
  if ('upload' in source) throw new SourceError('source.upload is internal to POST /v1/images');
  const path = source.local.path;
  const allowed = localRoots.some((root) => {
    const rel = relative(root, path);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  });
  if (!allowed) {
    throw new SourceError(
      localRoots.length === 0
        ? 'source.local is disabled on this server (set LOCAL_SOURCE_ROOTS)'
        : `source.local.path must be inside one of LOCAL_SOURCE_ROOTS (${localRoots.join(', ')})`,
    );
  }
  const info = await stat(path).catch(() => undefined);
  if (!info?.isDirectory()) throw new SourceError(`source.local.path ${path} is not a directory`);
  return path;
}
