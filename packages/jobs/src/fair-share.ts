import { PRIORITY_LIMIT, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ShareOf } from './job-queues.js';
import { batchHashKey } from './batch-record.js';
import type { Scripts } from './lua-scripts.js';

/** The highest BullMQ priority: a round past it is clamped (and counted) — fairness ends there. */
export const MAX_ROUND = PRIORITY_LIMIT;

/** Jobs at the head of the prioritized set read to find the current round (see currentRound). */
const HEAD_WINDOW = 10;

/** Jobs of one page got the highest round: the busy period outgrew BullMQ's priority range. */
export interface RoundsClamped {
  queue: string;
  batchId: string;
  jobs: number;
}

export interface FairShareOptions {
  /** Uploads per round: the interactive lane's weight (INTERACTIVE_SHARE). */
  interactiveShare: number;
  onRoundsClamped?: (event: RoundsClamped) => void;
}

/**
 * Start-time fair queuing on BullMQ priorities. Every image job's priority is a round; workers
 * take the lowest round first, FIFO within one. The current round is the priority at the head of
 * the queue's prioritized set (see currentRound; never going back within an epoch); a batch's next job goes into
 * its last round while that has room for `weight` jobs, else the next one, but never before the
 * current round. So running batches are served in turn, `weight` jobs each per round, and a batch
 * posted late starts at the head, not behind the others' backlog. Uploads share one lane per
 * queue, INTERACTIVE_SHARE jobs per round, starting at the current round: an upload waits for
 * about one job of each running batch. When the prioritized set is empty a new epoch starts and
 * rounds restart at 1, so they only grow during one continuous busy period.
 *
 * Redis: the tag state lives on the batch hash (fairEpoch, fairRound, fairUsed), the queue's
 * state and the lane's in <prefix>:fair:<queue> and <prefix>:fair:<queue>:interactive; one
 * getPrioritized(0, 9) and one Lua call (fairRounds-2.lua) per page.
 */
export class FairShare {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly scripts: Scripts,
    private readonly options: FairShareOptions,
  ) {}

  /** BullMQ priorities for the next `count` jobs of this share in `queue`, in enqueue order. */
  async priorities(queue: Queue, share: ShareOf, count: number): Promise<number[]> {
    if (count === 0) return [];
    const interactive = share.lane === 'interactive';
    const weight = interactive ? this.options.interactiveShare : Math.max(1, Math.floor(share.weight ?? 1));
    const queueKey = `${this.prefix}:fair:${queue.name}`;
    const stateKey = interactive ? `${queueKey}:interactive` : batchHashKey(this.prefix, share.batchId);
    const headRound = currentRound(await queue.getPrioritized(0, HEAD_WINDOW - 1));
    const [first, used, clamped] = (await this.scripts.fairRounds([queueKey, stateKey], [count, weight, headRound, MAX_ROUND, interactive ? '0' : '1'])) as number[];
    if (clamped! > 0) this.options.onRoundsClamped?.({ queue: queue.name, batchId: share.batchId, jobs: clamped! });
    return roundsOf(first!, used!, weight, count);
  }

  /** How many jobs got the highest round since this queue was first used (never reset). */
  async clampedJobs(queueName: string): Promise<number> {
    return Number((await this.redis.hget(`${this.prefix}:fair:${queueName}`, 'clamped')) ?? 0);
  }
}

/** `count` jobs from `first` round on, `used` of whose places are taken: `weight` per round, at most MAX_ROUND. */
export function roundsOf(first: number, used: number, weight: number, count: number): number[] {
  return Array.from({ length: count }, (_, index) => Math.min(first + Math.floor((used + index) / weight), MAX_ROUND));
}

/**
 * The round workers are serving: that of the first job at the head that never ran. A retried or
 * postponed job comes back with its older, lower round (BullMQ keeps a job's priority), and
 * taking its round would let a batch posted now go ahead of everyone's backlog. 0 = the set is
 * empty (a new epoch).
 */
export function currentRound(head: Job[]): number {
  const fresh = head.find((job) => job.attemptsStarted === 0) ?? head.at(-1);
  return fresh ? Number(fresh.priority) || 0 : 0;
}
