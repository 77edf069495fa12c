import { registerQueueMetrics } from '@imagefleet/metrics';
import { toBatchStatus } from '@imagefleet/jobs';
import type { ProducerDeps } from './deps.js';

/**
 * Samples queue depth and running-batch progress every `intervalMs` into gauges. Scrapes read
 * the cached values, so Prometheus scraping many producers never multiplies Redis load.
 */
export class QueueSampler {
  private timer: NodeJS.Timeout | undefined;
  private readonly gauges;

  constructor(
    private readonly deps: ProducerDeps,
    private readonly intervalMs: number,
  ) {
    this.gauges = registerQueueMetrics(deps.metrics);
  }

  async sample(): Promise<void> {
    const { jobs, batches } = this.deps.background;
    this.gauges.setQueues(await jobs.counts());
    const active = await batches.activeBatches();
    this.gauges.setBatches(
      active.map((record) => {
        const status = toBatchStatus(record);
        return { id: record.id, task: record.task, total: record.total, done: record.completed + record.failed, failed: record.failed, etaSeconds: status.eta, throughput: status.throughput };
      }),
    );
  }

  start(): void {
    const tick = () => {
      this.sample()
        .catch((error: unknown) => this.deps.logger.warn({ err: error }, 'queue metrics sample failed'))
        .finally(() => {
          if (this.timer === undefined) return;
          this.timer = setTimeout(tick, this.intervalMs);
          this.timer.unref();
        });
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
