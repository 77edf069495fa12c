import { ImagefleetError } from '@imagefleet/core';

export interface BatchOptionsLimits {
  /** Batches whose options are kept. */
  entries: number;
  /** Options JSON kept in all (UTF-16 code units, about bytes). */
  chars: number;
}

interface Entry {
  options: Record<string, unknown>;
  chars: number;
}

/**
 * The options of a batch, read from its record (a job carries its batch id and its input, never the
 * options) and kept for the batch's next jobs, least recently used dropped first, within `limits`.
 * A batch's options never change once it is created.
 */
export class BatchOptionsCache {
  private readonly entries = new Map<string, Entry>();
  private chars = 0;

  constructor(
    private readonly read: (batchId: string) => Promise<string | undefined>,
    private readonly limits: BatchOptionsLimits = { entries: 64, chars: 32 * 1024 * 1024 },
  ) {}

  async get(batchId: string): Promise<Record<string, unknown>> {
    const hit = this.entries.get(batchId);
    if (hit) {
      this.entries.delete(batchId);
      this.entries.set(batchId, hit);
      return hit.options;
    }
    const text = await this.read(batchId);
    if (text === undefined) throw new ImagefleetError('invalid_job', `The record of batch ${batchId} is gone: its options cannot be read`);
    const entry = { options: JSON.parse(text) as Record<string, unknown>, chars: text.length };
    this.entries.set(batchId, entry);
    this.chars += entry.chars;
    while (this.entries.size > 1 && (this.entries.size > this.limits.entries || this.chars > this.limits.chars)) {
      const [oldest, dropped] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(oldest);
      this.chars -= dropped.chars;
    }
    return entry.options;
  }

  /** Batches kept now (tests). */
  get size(): number {
    return this.entries.size;
  }
}
