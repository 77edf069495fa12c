/**
 * Stable error codes. A code is part of the API: results, manifests and metrics carry it.
 * Permanent codes fail a job at once; transient ones are retried with backoff.
 */
export const permanentErrorCodes = [
  'not_an_image',
  'empty',
  'too_large',
  'too_many_pixels',
  'corrupt_image',
  'unsupported_format',
  'too_many_pages',
  'encrypted_document',
  'corrupt_document',
  'empty_document',
  'page_failed',
  'not_found',
  'invalid_job',
  'unknown_task',
  'invalid_output',
  'engine_crashed_repeatedly',
  'engine_unavailable',
  'engine_rejected',
  'engine_context_too_small',
  'storage_unavailable',
  'storage_refused',
  'result_unstorable',
] as const;
export const transientErrorCodes = [
  'storage_error',
  'stalled',
  'internal',
  'engine_crashed',
  'engine_timeout',
  'engine_out_of_memory',
  'engine_restarted',
  'engine_unreachable',
  'redis_unavailable',
] as const;

export type PermanentErrorCode = (typeof permanentErrorCodes)[number];
export type TransientErrorCode = (typeof transientErrorCodes)[number];
export type ErrorCode = PermanentErrorCode | TransientErrorCode;

/** Every stable code, permanent and transient. */
export const errorCodes: readonly ErrorCode[] = [...permanentErrorCodes, ...transientErrorCodes];

export class ImagefleetError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; detail?: Record<string, unknown> },
  ) {
    super(message, options);
    this.name = 'ImagefleetError';
    this.detail = options?.detail;
  }

  /** Extra facts kept with a failed result (e.g. the raw model output of invalid_output). */
  readonly detail: Record<string, unknown> | undefined;

  get permanent(): boolean {
    return (permanentErrorCodes as readonly string[]).includes(this.code);
  }
}

/** Wraps anything thrown into an ImagefleetError; unknown errors become transient `internal`. */
export function toImagefleetError(error: unknown): ImagefleetError {
  if (error instanceof ImagefleetError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ImagefleetError('internal', message, { cause: error });
}

/**
 * A service the request needs (Redis) cannot be reached right now. HTTP handlers answer it with
 * 503 and a Retry-After header of retryAfterSeconds; nothing about the request itself is wrong.
 */
export class UnavailableError extends ImagefleetError {
  readonly statusCode = 503;

  constructor(
    readonly service: string,
    message: string,
    readonly retryAfterSeconds = 2,
    options?: { cause?: unknown },
  ) {
    super('redis_unavailable', message, options);
    this.name = 'UnavailableError';
  }
}
