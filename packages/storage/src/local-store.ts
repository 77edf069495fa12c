import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, writeFile, access } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImagefleetError } from '@imagefleet/core';
import type { BlobInfo, BlobStore, ListOptions } from './blob-store.js';

/**
 * Maps an object key to a path under root, refusing anything that could escape it:
 * absolute keys, '..' or '.' segments, empty segments, backslashes, NUL and other control characters.
 */
export function safeKeyPath(root: string, key: string): string {
  if (typeof key !== 'string' || key === '') throw invalidKey(key, 'it is empty');
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  if (/[\0-\x1f\x7f]/.test(key)) throw invalidKey(key, 'it contains a control character');
  if (key.includes('\\')) throw invalidKey(key, 'it contains a backslash');
  if (key.startsWith('/')) throw invalidKey(key, 'it is absolute');
  const segments = key.split('/');
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw invalidKey(key, "it has an empty, '.' or '..' segment");
  }
  const absoluteRoot = resolve(root);
  const path = resolve(absoluteRoot, ...segments);
  if (!path.startsWith(absoluteRoot + sep)) throw invalidKey(key, 'it resolves outside the store');
  return path;
}

function invalidKey(key: string, why: string): ImagefleetError {
  return new ImagefleetError('invalid_job', `Invalid object key ${JSON.stringify(key)}: ${why}`);
}

function notFound(key: string): ImagefleetError {
  return new ImagefleetError('not_found', `Object not found: ${key}`);
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

export class LocalBlobStore implements BlobStore {
  readonly location: string;

  constructor(root: string) {
    this.location = resolve(root);
  }

  async get(key: string, options: { maxBytes: number }): Promise<Buffer> {
    const path = safeKeyPath(this.location, key);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isMissing(error)) throw notFound(key);
      throw new ImagefleetError('storage_error', `Cannot read ${key}: ${(error as Error).message}`, { cause: error });
    }
    try {
      const { size } = await handle.stat();
      if (size > options.maxBytes) {
        throw new ImagefleetError('too_large', `Object ${key} is ${size} bytes, over the limit of ${options.maxBytes}`);
      }
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async getStream(key: string): Promise<Readable> {
    const path = safeKeyPath(this.location, key);
    await access(path).catch(() => {
      throw notFound(key);
    });
    return createReadStream(path);
  }

  async put(key: string, body: Buffer | string): Promise<void> {
    const path = safeKeyPath(this.location, key);
    const temporary = await this.temporaryPathFor(path);
    await writeFile(temporary, body);
    await rename(temporary, path);
  }

  async putStream(key: string, body: Readable): Promise<void> {
    const path = safeKeyPath(this.location, key);
    const temporary = await this.temporaryPathFor(path);
    try {
      await pipeline(body, createWriteStream(temporary));
      await rename(temporary, path);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw error;
    }
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    try {
      const info = await stat(safeKeyPath(this.location, key));
      return info.isFile() ? { key, size: info.size } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo[]> {
    const pageSize = options.pageSize ?? 1000;
    // Start at the deepest directory the prefix names completely; filter the rest by string.
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const baseDir = baseKey === '' ? this.location : safeKeyPath(this.location, baseKey);
    let page: BlobInfo[] = [];
    for await (const info of this.walk(baseDir, baseKey)) {
      if (!info.key.startsWith(prefix)) continue;
      if (options.startAfter !== undefined && info.key <= options.startAfter) continue;
      page.push(info);
      if (page.length >= pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  async ping(): Promise<void> {
    await mkdir(this.location, { recursive: true });
    await access(this.location);
  }

  close(): void {}

  /** Depth-first in key order; a directory holds its entries in memory, never the whole tree. */
  private async *walk(dir: string, dirKey: string): AsyncGenerator<BlobInfo> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    // Sort as S3 does (by the full key), so "a/b" comes after "a.txt".
    const named = entries
      .filter((entry) => !entry.name.startsWith('.imagefleet-tmp-'))
      .map((entry) => ({ entry, key: dirKey === '' ? entry.name : `${dirKey}/${entry.name}` }))
      .map((item) => ({ ...item, sortKey: item.entry.isDirectory() ? `${item.key}/` : item.key }))
      .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    for (const { entry, key } of named) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        yield* this.walk(path, key);
      } else if (entry.isFile()) {
        const info = await stat(path).catch(() => undefined);
        if (info) yield { key, size: info.size };
      }
    }
  }

  private async temporaryPathFor(path: string): Promise<string> {
    await mkdir(dirname(path), { recursive: true });
    return join(dirname(path), `.imagefleet-tmp-${randomUUID()}`);
  }
}
