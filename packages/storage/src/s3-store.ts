import {
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { ImagefleetError } from '@imagefleet/core';
import type { BlobInfo, BlobStore, ListOptions } from './blob-store.js';
import { keyPrefixProblem, objectKeyProblem } from './key-rules.js';

export interface S3Settings {
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Default: true when an endpoint is set (S3-compatible servers), false for AWS. */
  forcePathStyle?: boolean;
  /**
   * Timeout of one request (S3_REQUEST_TIMEOUT_MS): to connect (at most 5 s of it), until the
   * answer's headers, and for any pause while a body streams. Default 30 s. The SDK retries a
   * timed-out request like any transient error (3 tries in all).
   */
  requestTimeoutMs?: number;
}

export const DEFAULT_S3_REQUEST_TIMEOUT_MS = 30_000;

export function createS3Client(settings: S3Settings): S3Client {
  const config: S3ClientConfig = {
    region: settings.region,
    forcePathStyle: settings.forcePathStyle ?? settings.endpoint !== undefined,
    // The SDK's default checksums frame streamed bodies as aws-chunked, which s3rver (and some
    // other S3-compatible servers) store verbatim inside the object. Only send them when required.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Without timeouts one request that never answers holds its job (lock renewed) forever.
    requestHandler: requestHandlerOptions(settings.requestTimeoutMs ?? DEFAULT_S3_REQUEST_TIMEOUT_MS),
  };
  if (settings.endpoint) config.endpoint = settings.endpoint;
  if (settings.accessKeyId && settings.secretAccessKey) {
    config.credentials = { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey };
  }
  return new S3Client(config);
}

/** The SDK's node HTTP handler options for a request timeout (exported for tests). */
export function requestHandlerOptions(timeoutMs: number) {
  return {
    connectionTimeout: Math.min(timeoutMs, 5000),
    requestTimeout: timeoutMs,
    throwOnRequestTimeout: true,
    socketTimeout: timeoutMs,
  };
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as Error).name;
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404;
}

/** 4xx answers that no retry changes (a bad key, too long, invalid argument); 403, 408 and 429 may pass. */
function isRefusal(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && ![403, 404, 408, 429].includes(status);
}

function storageError(action: string, key: string, error: unknown): ImagefleetError {
  if (error instanceof ImagefleetError) return error;
  if (isNotFound(error)) return new ImagefleetError('not_found', `Object not found: ${key}`);
  const status = statusOf(error);
  const detail = `${(error as Error).name}: ${(error as Error).message}${status ? ` (HTTP ${status})` : ''}`;
  return new ImagefleetError(isRefusal(status) ? 'storage_refused' : 'storage_error', `S3 ${action} ${key} failed: ${detail}`, { cause: error });
}

/** Refuses a key before any request is made (see objectKeyProblem). */
function checkedKey(key: string, problem: string | undefined = objectKeyProblem(key)): string {
  if (problem) throw new ImagefleetError('invalid_job', `Invalid object key ${JSON.stringify(key)}: ${problem}`);
  return key;
}

/** A bucket plus an optional key prefix; keys given to it are relative to the prefix. */
export class S3BlobStore implements BlobStore {
  readonly location: string;
  private readonly prefix: string;

  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    prefix = '',
    private readonly ownsClient = false,
  ) {
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.location = `s3://${bucket}${this.prefix === '' ? '' : `/${this.prefix.replace(/\/$/, '')}`}`;
  }

  /** The full key in the bucket, refused before any request when unsafe (see objectKeyProblem). */
  private keyOf(key: string): string {
    checkedKey(key);
    return checkedKey(this.prefix + key);
  }

  async get(key: string, options: { maxBytes: number }): Promise<Buffer> {
    let response;
    try {
      response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
    } catch (error) {
      throw storageError('GET', key, error);
    }
    const body = response.Body as Readable | undefined;
    if (response.ContentLength !== undefined && response.ContentLength > options.maxBytes) {
      body?.destroy();
      throw new ImagefleetError('too_large', `Object ${key} is ${response.ContentLength} bytes, over the limit of ${options.maxBytes}`);
    }
    if (!body) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body) {
        size += (chunk as Buffer).length;
        if (size > options.maxBytes) {
          body.destroy();
          throw new ImagefleetError('too_large', `Object ${key} is over the limit of ${options.maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      if (error instanceof ImagefleetError) throw error;
      throw storageError('GET', key, error);
    }
    return Buffer.concat(chunks, size);
  }

  async getStream(key: string): Promise<Readable> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
      return (response.Body as Readable | undefined) ?? Readable.from([]);
    } catch (error) {
      throw storageError('GET', key, error);
    }
  }

  async put(key: string, body: Buffer | string, options: { contentType?: string } = {}): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key), Body: body, ContentType: options.contentType }),
      );
    } catch (error) {
      throw storageError('PUT', key, error);
    }
  }

  async putStream(key: string, body: Readable, options: { contentType?: string } = {}): Promise<void> {
    try {
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: this.keyOf(key), Body: body, ContentType: options.contentType },
      });
      await upload.done();
    } catch (error) {
      throw storageError('PUT', key, error);
    }
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
      return { key, size: response.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw storageError('HEAD', key, error);
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<BlobInfo[]> {
    const problem = keyPrefixProblem(prefix);
    if (problem) checkedKey(prefix, problem);
    let continuationToken: string | undefined;
    do {
      let response;
      try {
        response = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: options.pageSize ?? 1000,
            ContinuationToken: continuationToken,
            StartAfter: continuationToken || options.startAfter === undefined ? undefined : this.prefix + options.startAfter,
          }),
        );
      } catch (error) {
        throw storageError('LIST', prefix, error);
      }
      const page = (response.Contents ?? [])
        .filter((object) => object.Key !== undefined)
        .map((object) => ({ key: object.Key!.slice(this.prefix.length), size: object.Size ?? 0 }));
      if (page.length > 0) yield page;
      continuationToken = response.IsTruncated ? response.NextContinuationToken : undefined;
    } while (continuationToken);
  }

  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      throw storageError('HEAD bucket', this.bucket, error);
    }
  }

  close(): void {
    if (this.ownsClient) this.client.destroy();
  }
}
