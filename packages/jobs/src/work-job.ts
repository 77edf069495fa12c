/**
 * A job as a processor sees it, without BullMQ. The consumers (consumers.ts) adapt BullMQ's
 * jobs to this; tests use plain objects (see testing.ts).
 */
export interface WorkJob<T> {
  readonly id: string;
  readonly data: T;
  /** Attempts that ended before this one (0 on the first). Postponed runs do not count. */
  readonly attemptsMade: number;
  /** Attempts allowed in all. */
  readonly attempts: number;
  /** Identifies this attempt (BullMQ's lock token): a stale attempt has another one. */
  readonly token: string;
  /** When the job was added, and when this attempt started (ms since the epoch). */
  readonly timestamp: number;
  readonly processedOn: number | undefined;
  updateData(data: T): Promise<void>;
}

/** Whether failing now with this error ends the job: a permanent error, or no attempts left. */
export function isFinalAttempt(job: Pick<WorkJob<unknown>, 'attemptsMade' | 'attempts'>, error: { permanent: boolean }): boolean {
  return error.permanent || job.attemptsMade + 1 >= job.attempts;
}

/** Thrown by a processor: run the job again after delayMs without using up an attempt. */
export class PostponeJob extends Error {
  constructor(
    readonly delayMs: number,
    reason: string,
  ) {
    super(`postponed for ${delayMs} ms: ${reason}`);
    this.name = 'PostponeJob';
  }
}

/** Thrown by a processor once it recorded the job's failure: fail it now, no more attempts. */
export class FailJob extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FailJob';
  }
}

/** A job BullMQ failed for good (attempts spent, stalled too often, or FailJob). */
export interface FailedJob<T> {
  readonly id: string;
  readonly data: T;
  readonly attemptsMade: number;
}
