import { randomUUID } from 'node:crypto';
import { resultKeyOf, type Logger } from '@imagefleet/core';
import { failedJobLine, type BatchSnapshot, type JobBackend } from '@imagefleet/jobs';
import type { BatchLister } from './lister.js';
import type { BatchOperations } from './batch-operations.js';
import { routeOf } from './batch-jobs.js';

export interface ReconcilerOptions {
  intervalMs: number;
  /** A failed finalize job is started again this long after it failed. */
  finalizeRetryMs: number;
  /**
   * A running batch whose outcome count has not moved for this long is checked for jobs that
   * BullMQ failed without an outcome (default: 6 intervals).
   */
  staleAfterMs?: number;
}

/** What one pass did (for logs and tests). */
export interface ReconcileReport {
  leader: boolean;
  batches: number;
  listingsResumed: string[];
  finalizesStarted: string[];
  outcomesRecovered: number;
}

const LEADER_ROLE = 'reconciler';

/**
 * Makes every batch converge, whatever died when. One producer leads (a Redis lock with an
 * expiry, renewed each pass: when the leader dies another takes over); every intervalMs it reads
 * each unfinished batch's counters (one pipelined round trip for all) and:
 * - listing, nobody holding the lister lock (its producer died): resumes the listing here;
 * - running with every input accounted for: makes sure its finalize job exists and, if it failed,
 *   runs again (after finalizeRetryMs);
 * - running with no progress for staleAfterMs: records an outcome for any job that BullMQ failed
 *   without one (the worker died between BullMQ's decision and recording it), and enqueues again
 *   its indexed jobs without an outcome (ids still queued are ignored: a producer that died between
 *   a resume or retry and its queue work);
 * - paused: nothing (neither its listing is resumed nor is it finalized) until an operator resumes it.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private readonly owner = randomUUID();
  private readonly progress = new Map<string, { done: number; since: number; checkedAt: number }>();
  private readonly staleAfterMs: number;

  constructor(
    private readonly backend: JobBackend,
    private readonly lister: BatchLister,
    private readonly operations: Pick<BatchOperations, 'requeue'>,
    private readonly logger: Logger,
    private readonly options: ReconcilerOptions,
  ) {
    this.staleAfterMs = options.staleAfterMs ?? options.intervalMs * 6;
  }

  /** One pass; safe to call at any time (tests call it directly). */
  async tick(now = Date.now()): Promise<ReconcileReport> {
    const report: ReconcileReport = { leader: false, batches: 0, listingsResumed: [], finalizesStarted: [], outcomesRecovered: 0 };
    const leaderTtlMs = Math.max(this.options.intervalMs * 3, 1000);
    report.leader = await this.backend.batches.roleLock(LEADER_ROLE).hold(this.owner, leaderTtlMs);
    if (!report.leader) return report;
    const snapshots = await this.backend.batches.snapshots(await this.backend.batches.unfinishedIds());
    report.batches = snapshots.length;
    for (const snapshot of snapshots) {
      try {
        await this.reconcile(snapshot, now, report);
      } catch (error) {
        this.logger.warn({ err: error, batchId: snapshot.id }, 'reconciling a batch failed; tried again next pass');
      }
    }
    for (const id of this.progress.keys()) if (!snapshots.some((snapshot) => snapshot.id === id)) this.progress.delete(id);
    return report;
  }

  private async reconcile(snapshot: BatchSnapshot, now: number, report: ReconcileReport): Promise<void> {
    const { batches, jobs } = this.backend;
    const { id } = snapshot;
    if (snapshot.state === undefined) {
      // Indexed but gone (its records expired): nothing left to converge.
      await batches.unindex(id);
      return;
    }
    if (snapshot.state === 'listing') {
      if (!snapshot.listerActive && !this.lister.isListing(id)) {
        this.logger.info({ batchId: id }, 'reconciler: nobody is listing this batch; resuming the listing');
        this.lister.start(id);
        report.listingsResumed.push(id);
      }
      return;
    }
    if (snapshot.state !== 'running') return;
    if (snapshot.done >= snapshot.total) {
      const trigger = await jobs.ensureFinalize(id, { retryFailedAfterMs: this.options.finalizeRetryMs, now });
      if (trigger === 'added' || trigger === 'retried') {
        this.logger.info({ batchId: id, trigger }, 'reconciler: every input has an outcome; finalize started');
        report.finalizesStarted.push(id);
      }
      return;
    }
    if (!this.stale(snapshot, now)) return;
    report.outcomesRecovered += await this.recoverFailedJobs(id);
    const batch = await batches.get(id);
    if (batch?.state === 'running') await this.operations.requeue(batch);
  }

  /** True at most once per staleAfterMs for a batch whose outcome count has not moved for that long. */
  private stale(snapshot: BatchSnapshot, now: number): boolean {
    if (this.staleAfterMs === 0) return true;
    const seen = this.progress.get(snapshot.id);
    if (!seen || seen.done !== snapshot.done) {
      this.progress.set(snapshot.id, { done: snapshot.done, since: now, checkedAt: now });
      return false;
    }
    if (now - seen.since < this.staleAfterMs || now - seen.checkedAt < this.staleAfterMs) return false;
    seen.checkedAt = now;
    return true;
  }

  /** Records an outcome for each job of the batch that BullMQ failed without one; finalize stores its object. */
  private async recoverFailedJobs(batchId: string): Promise<number> {
    const { batches, jobs } = this.backend;
    let recovered = 0;
    const batch = await batches.get(batchId);
    if (!batch) return 0;
    for (const job of await jobs.failedImageJobs(batchId, routeOf(batch))) {
      if (await batches.outcome(batchId, job.id)) continue;
      const line = failedJobLine(resultKeyOf(job.data), job.failedReason);
      const claim = await batches.claimOutcome(batchId, job.id, line, `reconciler:${job.id}`);
      if (!claim.added) continue;
      recovered++;
      this.logger.warn({ batchId, jobId: job.id, code: line.error?.code }, 'reconciler: recorded the outcome of a job failed without one');
      if (claim.complete) await jobs.ensureFinalize(batchId);
    }
    return recovered;
  }

  start(): void {
    const tick = () => {
      this.tick()
        .catch((error: unknown) => this.logger.warn({ err: error }, 'reconcile pass failed'))
        .finally(() => {
          if (this.timer === undefined) return;
          this.timer = setTimeout(tick, this.options.intervalMs);
          this.timer.unref();
        });
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  /** Stops the passes and gives up leadership, so another producer leads at once. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.backend.batches.roleLock(LEADER_ROLE).release(this.owner).catch(() => undefined);
  }
}
