import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type { BatchSource, SkipReason } from '@imagefleet/core';
import { keyPrefixProblem, objectKeyProblem } from '@imagefleet/storage';

/** Extensions worth enqueueing (images, and PDF documents); the worker still sniffs the bytes of everything it gets. */
const IMAGE_EXTENSIONS = new Set(['jpg', 'jpeg', 'jpe', 'png', 'webp', 'gif', 'tif', 'tiff', 'avif', 'heic', 'heif', 'pdf']);

export function looksLikeImage(key: string): boolean {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  return dot > 0 && IMAGE_EXTENSIONS.has(name.slice(dot + 1).toLowerCase());
}

/**
 * Why a listed input is not enqueued, or undefined: a link or special file (local stores say so),
 * a name without an image extension (unless checkName is false: uploads are sniffed when they
 * arrive), a key no store may be asked for.
 */
export function skipReasonOf(input: { key: string; skip?: SkipReason }, checkName = true): SkipReason | undefined {
  if (input.skip) return input.skip;
  if (checkName && !looksLikeImage(input.key)) return 'not_an_image_name';
  return objectKeyProblem(input.key) ? 'invalid_key' : undefined;
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
    const prefixProblem = keyPrefixProblem((s3.prefix as string | undefined) ?? '');
    if (prefixProblem) throw new SourceError(`source.s3.prefix is not a safe key prefix: ${prefixProblem}`);
    return { s3: { bucket: s3.bucket, prefix: (s3.prefix as string | undefined) ?? '' } };
  }
  if (kinds[0] === 'keys') {
    if (typeof raw.bucket !== 'string' || !BUCKET.test(raw.bucket)) throw new SourceError('source.bucket must be a valid bucket name');
    const keys = raw.keys;
    if (!Array.isArray(keys) || keys.length === 0) throw new SourceError('source.keys must be a non-empty array of object keys');
    if (keys.length > MAX_SOURCE_KEYS) throw new SourceError(`source.keys has ${keys.length} keys; at most ${MAX_SOURCE_KEYS} per request (use an s3 prefix)`);
    const bad = keys.findIndex((key) => typeof key !== 'string');
    if (bad >= 0) throw new SourceError(`source.keys[${bad}] must be a string`);
    for (const [index, key] of (keys as string[]).entries()) {
      const problem = objectKeyProblem(key);
      if (problem) throw new SourceError(`source.keys[${index}] is not a safe object key: ${problem}`);
    }
    return { keys: [...new Set(keys as string[])], bucket: raw.bucket };
  }
  const local = raw.local;
  if (!isObject(local) || typeof local.path !== 'string' || !isAbsolute(local.path)) {
    throw new SourceError('source.local.path must be an absolute directory path');
  }
  return { local: { path: resolve(local.path) } };
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

const realOrUndefined = (path: string) => realpath(path).catch(() => undefined);

/**
 * The store to read from (s3://bucket or a directory). A local directory is checked by its real
 * path against the real paths of LOCAL_SOURCE_ROOTS (a link inside a root that points out of it
 * is outside), and the real path is what the batch reads from. A missing directory and one
 * outside the roots get the same answer, which names no root.
 */
export async function resolveSourceStore(source: BatchSource, localRoots: string[]): Promise<string> {
  if ('s3' in source) return `s3://${source.s3.bucket}`;
  if ('keys' in source) return `s3://${source.bucket}`;
  if ('upload' in source) throw new SourceError('source.upload is internal to POST /v1/images');
  if (localRoots.length === 0) throw new SourceError('source.local is disabled on this server (set LOCAL_SOURCE_ROOTS)');
  const path = await realOrUndefined(source.local.path);
  const roots = await Promise.all(localRoots.map(realOrUndefined));
  const info = path === undefined ? undefined : await stat(path).catch(() => undefined);
  if (path === undefined || !info?.isDirectory() || !roots.some((root) => root !== undefined && isInside(root, path))) {
    throw new SourceError('source.local.path must be an existing directory inside the directories this server allows (LOCAL_SOURCE_ROOTS)');
  }
  return path;
}
