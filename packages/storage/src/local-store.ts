import { constants, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, unlink, writeFile, access, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImagefleetError } from '@imagefleet/core';
import type { BlobInfo, BlobStore, ListOptions } from './blob-store.js';
import { objectKeyProblem } from './key-rules.js';

/**
 * Maps an object key to a path under root, refusing anything that could escape it:
 * absolute keys, '..' or '.' segments, empty segments, backslashes, NUL and other control characters.
 */
export function safeKeyPath(root: string, key: string): string {
  const problem = objectKeyProblem(key) ?? (key.includes('\\') ? 'it contains a backslash' : undefined);
  if (problem) throw invalidKey(key, problem);
  const absoluteRoot = resolve(root);
  const path = resolve(absoluteRoot, ...key.split('/'));
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

/** File system answers that no retry changes: the path is taken by a directory or a file, or too long. */
const REFUSING_CODES = new Set(['EISDIR', 'ENOTDIR', 'EEXIST', 'ENOTEMPTY', 'ENAMETOOLONG', 'EINVAL', 'ELOOP']);

function writeError(key: string, error: unknown): ImagefleetError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const kind = REFUSING_CODES.has(code) ? 'storage_refused' : 'storage_error';
  return new ImagefleetError(kind, `Cannot write ${key}: ${code || (error as Error).message}`, { cause: error });
}

/** Reads never follow a link, never block on a FIFO, and only open regular files inside the root. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export class LocalBlobStore implements BlobStore {
  readonly location: string;
  private realRoot: string | undefined;

  constructor(root: string) {
    this.location = resolve(root);
  }

  /**
   * Opens a regular file inside the root without following links: O_NOFOLLOW for the last
   * component, and the file opened must be the one at its real path, under the root's real path,
   * so a directory on the way that is (or became) a link out of the root is refused too.
   */
  private async openInside(key: string): Promise<FileHandle> {
    const path = safeKeyPath(this.location, key);
    let handle: FileHandle;
    try {
      handle = await open(path, READ_FLAGS);
    } catch (error) {
      if (isMissing(error)) throw notFound(key);
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw invalidKey(key, 'it is a symbolic link');
      throw new ImagefleetError('storage_error', `Cannot read ${key}: ${(error as Error).message}`, { cause: error });
    }
    try {
      const opened = await handle.stat();
      if (!opened.isFile()) throw invalidKey(key, 'it is not a regular file');
      this.realRoot ??= await realpath(this.location);
      const real = await realpath(path);
      const there = await lstat(real);
      if (!real.startsWith(this.realRoot + sep) || there.dev !== opened.dev || there.ino !== opened.ino) {
        throw invalidKey(key, 'it resolves outside the store');
      }
      return handle;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async get(key: string, options: { maxBytes: number }): Promise<Buffer> {
    const handle = await this.openInside(key);
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
    return (await this.openInside(key)).createReadStream();
  }

  async put(key: string, body: Buffer | string): Promise<void> {
    await this.writeAtomically(key, (temporary) => writeFile(temporary, body));
  }

  async putStream(key: string, body: Readable): Promise<void> {
    await this.writeAtomically(key, (temporary) => pipeline(body, createWriteStream(temporary)));
  }

  /** Writes a temporary file beside the target, then renames it: whole or not at all. */
  private async writeAtomically(key: string, write: (temporary: string) => Promise<void>): Promise<void> {
    const path = safeKeyPath(this.location, key);
    let temporary: string | undefined;
    try {
      temporary = await this.temporaryPathFor(path);
      await write(temporary);
      await rename(temporary, path);
    } catch (error) {
      if (temporary) await unlink(temporary).catch(() => undefined);
      throw error instanceof ImagefleetError ? error : writeError(key, error);
    }
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    try {
      const info = await lstat(safeKeyPath(this.location, key));
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

  /** Depth-first in key order; a directory holds its entries in memory, never the whole tree. Links and special files come with a skip reason. */
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
      // Dirent types come from lstat: a link is a link, whatever it points to; it is never followed.
      if (entry.isDirectory()) {
        yield* this.walk(path, key);
      } else if (entry.isFile()) {
        const info = await lstat(path).catch(() => undefined);
        if (info) yield info.isFile() ? { key, size: info.size } : { key, size: 0, skip: info.isSymbolicLink() ? 'symlink' : 'not_a_regular_file' };
      } else {
        yield { key, size: 0, skip: entry.isSymbolicLink() ? 'symlink' : 'not_a_regular_file' };
      }
    }
  }

  private async temporaryPathFor(path: string): Promise<string> {
    await mkdir(dirname(path), { recursive: true });
    return join(dirname(path), `.imagefleet-tmp-${randomUUID()}`);
  }
}
