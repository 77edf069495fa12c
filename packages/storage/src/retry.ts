import { ImagefleetError } from '@imagefleet/core';

export interface RetryPolicy {
  /** Tries in all (default 5). */
  attempts?: number;
  /** First delay; doubles each time, capped at 10 s (default 200 ms). */
  backoffMs?: number;
}

/** Whether a storage failure may succeed when tried again (5xx, timeouts, resets; not a 404 or a bad key). */
export function isTransientStorageError(error: unknown): boolean {
  return !(error instanceof ImagefleetError) || error.code === 'storage_error';
}

/** Runs a storage call, retrying transient failures with exponential backoff; throws the last error. */
export async function withStorageRetries<T>(work: () => Promise<T>, policy: RetryPolicy = {}): Promise<T> {
  const attempts = policy.attempts ?? 5;
  const backoffMs = policy.backoffMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !isTransientStorageError(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(backoffMs * 2 ** (attempt - 1), 10_000)));
    }
  }
}
