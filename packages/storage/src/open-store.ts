import type { S3Client } from '@aws-sdk/client-s3';
import type { BlobStore } from './blob-store.js';
import { LocalBlobStore } from './local-store.js';
import { S3BlobStore, createS3Client, type S3Settings } from './s3-store.js';

/** Splits s3://bucket/prefix; returns undefined for anything else. */
export function parseS3Url(location: string): { bucket: string; prefix: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location);
  return match ? { bucket: match[1]!, prefix: match[2] ?? '' } : undefined;
}

/**
 * Opens stores by location and caches them, so a worker reuses one S3 client (and its
 * connection pool) for every job.
 */
export class StoreRegistry {
  private s3Client: S3Client | undefined;
  private readonly stores = new Map<string, BlobStore>();

  constructor(private readonly s3: S3Settings) {}

  /** s3://bucket[/prefix] or an absolute local directory. */
  open(location: string): BlobStore {
    let store = this.stores.get(location);
    if (!store) {
      const s3 = parseS3Url(location);
      if (s3) {
        this.s3Client ??= createS3Client(this.s3);
        store = new S3BlobStore(this.s3Client, s3.bucket, s3.prefix);
      } else {
        store = new LocalBlobStore(location);
      }
      this.stores.set(location, store);
    }
    return store;
  }

  close(): void {
    for (const store of this.stores.values()) store.close();
    this.s3Client?.destroy();
    this.stores.clear();
  }
}
