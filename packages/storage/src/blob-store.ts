import type { Readable } from 'node:stream';
import type { SkipReason } from '@imagefleet/core';

export interface BlobInfo {
  key: string;
  size: number;
  /** Set when the entry is listed but must not be read: a symbolic link or a special file (local stores). */
  skip?: Extract<SkipReason, 'symlink' | 'not_a_regular_file'>;
}

export interface ListOptions {
  /** Only keys strictly after this one (resume a listing). */
  startAfter?: string;
  /** Keys per page (default 1000). */
  pageSize?: number;
}

/**
 * Object storage as the fleet needs it. Keys are relative to the store's root and use '/'.
 * Implementations: S3 (any S3-compatible server) and a local directory.
 */
export interface BlobStore {
  /** s3://bucket/prefix or the absolute root directory. */
  readonly location: string;
  /** Reads a whole object; an object larger than maxBytes fails with too_large before it is read. */
  get(key: string, options: { maxBytes: number }): Promise<Buffer>;
  /** Streams an object (for large manifests). */
  getStream(key: string): Promise<Readable>;
  put(key: string, body: Buffer | string, options?: { contentType?: string }): Promise<void>;
  /** Writes a stream of unknown length without holding it in memory. */
  putStream(key: string, body: Readable, options?: { contentType?: string }): Promise<void>;
  /** Size of an object, or undefined when it does not exist. */
  head(key: string): Promise<BlobInfo | undefined>;
  /** Keys under a prefix in lexicographic order, one page at a time (constant memory). */
  list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo[]>;
  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  close(): void;
}
