import type { Logger } from '@imagefleet/core';
import type { BatchRegistry } from '@imagefleet/jobs';

/** The poll interval while paused: from MIN_POLL_MS, doubling while nothing finishes, at most MAX_POLL_MS. */
export const MIN_POLL_MS = 25;
export const MAX_POLL_MS = 1000;
/** Once paused, listing continues when at least this much room is free (or what the page still needs): no one-job addBulks. */
const RESUME_CHUNK = 1000;

/**
 * Backpressure of one batch's listing: at most `limit` (LISTING_AHEAD) of its inputs wait in the
 * queue (enqueued, no outcome yet). take() answers how many more may be enqueued now, waiting
 * while there is no room.
 *
 * Waiting polls the batch's own counters (one HMGET: total - completed - failed), not an event:
 * the counters are already moved by every outcome, in the same Lua step that records it, so a
 * poll cannot miss one, costs nothing on the workers' side, and survives Redis reconnects and
 * producer restarts without a subscription to re-establish. The interval is short while inputs
 * finish and backs off to MAX_POLL_MS while none do, so a paused batch costs at most one small
 * read per second; the listing continues within MIN_POLL_MS..MAX_POLL_MS of room appearing.
 */
export class ListingRoom {
  private pausedSince: number | undefined;

  constructor(
    private readonly batches: Pick<BatchRegistry, 'waitingInputs' | 'note'>,
    private readonly batchId: string,
    private readonly limit: number,
    private readonly logger: Logger,
  ) {}

  /**
   * How many more inputs (at most `wanted`) may be enqueued now; undefined when the batch is no
   * longer listing (cancelled) or `stopped()` turned true while waiting. While it waits the batch
   * hash says so (roomWaitSince: its status shows waitingFor 'room').
   */
  async take(wanted: number, stopped: () => boolean): Promise<number | undefined> {
    const enough = Math.max(1, Math.min(wanted, RESUME_CHUNK, Math.ceil(this.limit / 2)));
    let interval = MIN_POLL_MS;
    let lastWaiting: number | undefined;
    for (;;) {
      if (stopped()) return undefined;
      const { state, waiting } = await this.batches.waitingInputs(this.batchId);
      if (state !== 'listing') return undefined;
      const room = this.limit - waiting;
      // Not paused: any room goes. Paused: continue once a useful chunk fits.
      if (room >= (this.pausedSince === undefined ? 1 : enough)) {
        await this.resumed(waiting);
        return Math.min(room, wanted);
      }
      await this.paused(waiting);
      interval = lastWaiting !== undefined && waiting < lastWaiting ? MIN_POLL_MS : Math.min(interval * 2, MAX_POLL_MS);
      lastWaiting = waiting;
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  }

  private async paused(waiting: number): Promise<void> {
    if (this.pausedSince !== undefined) return;
    this.pausedSince = Date.now();
    await this.batches.note(this.batchId, { roomWaitSince: this.pausedSince });
    this.logger.info({ waiting, limit: this.limit }, 'listing paused: LISTING_AHEAD inputs are waiting');
  }

  private async resumed(waiting: number): Promise<void> {
    if (this.pausedSince === undefined) return;
    const pausedMs = Date.now() - this.pausedSince;
    this.pausedSince = undefined;
    await this.batches.note(this.batchId, { roomWaitSince: null });
    this.logger.debug({ waiting, pausedMs }, 'listing continues');
  }
}
