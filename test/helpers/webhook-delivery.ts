import { createLogger, newWebhookSecret, type Config } from '@imagefleet/core';
import { FailJob } from '@imagefleet/jobs';
import { workJob } from '@imagefleet/jobs/testing';
import { createMetricsRegistry } from '@imagefleet/metrics';
import { closeWorkerDeps, createWebhookProcessor, createWorkerDeps, type WorkerDeps } from '@imagefleet/worker';
import { testConfig, testEnv } from './fleet.js';
import { deleteRedisPrefix, type TestServices } from './services.js';

/** What one run of the webhook job did: delivered, threw for BullMQ to retry, or failed the job for good. */
export type DeliveryRun = 'delivered' | 'retry' | 'failed';

/**
 * The worker's webhook job processor in this process, on real Redis (the batch registry) and
 * real receivers, one run at a time, so a test can tell each attempt's outcome.
 */
export interface DeliveryBench {
  config: Config;
  deps: WorkerDeps;
  /**
   * A finished batch whose webhook is pending, written straight to the registry: what a batch
   * whose host name passed submission looks like at delivery time (DNS may answer otherwise now).
   */
  finishedBatch(webhook: string): Promise<{ batchId: string; secret: string }>;
  /** Runs the batch's webhook job as attempt `attempt` (1-based) of `attempts`. */
  deliver(batchId: string, options?: { attempt?: number; attempts?: number }): Promise<DeliveryRun>;
  webhookState(batchId: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export async function startDeliveryBench(services: TestServices, extra: Record<string, string> = {}): Promise<DeliveryBench> {
  const config = testConfig(testEnv(services, { WEBHOOK_TIMEOUT_MS: '5000', ...extra }));
  const deps = createWorkerDeps(config, createLogger('test-webhooks', 'silent'), createMetricsRegistry({ service: 'worker' }));
  const process = createWebhookProcessor(deps);
  let count = 0;
  return {
    config,
    deps,
    async finishedBatch(webhook) {
      const batchId = `hook_${++count}`;
      const secret = newWebhookSecret();
      await deps.batches.create({ id: batchId, task: 'inspect', source: { keys: ['a.jpg'], bucket: 'hooks' }, sourceStore: 's3://hooks', webhook, webhookSecret: secret, resultsUrl: config.resultsUrl });
      await deps.batches.recordPage(batchId, { enqueued: 0, skipped: 1, after: undefined, cursor: 'end' });
      await deps.batches.finishListing(batchId);
      const finished = await deps.batches.markFinished(batchId, 'completed', new Date(), { webhook: true });
      if (finished !== 'finished') throw new Error(`the test batch did not finish: ${finished}`);
      return { batchId, secret };
    },
    async deliver(batchId, options = {}) {
      const attempt = options.attempt ?? 1;
      const job = workJob(`webhook-${batchId}`, { batchId }, { attemptsMade: attempt - 1, attempts: options.attempts ?? 1 });
      return process(job).then(
        () => 'delivered',
        (error: unknown) => (error instanceof FailJob ? 'failed' : 'retry'),
      );
    },
    async webhookState(batchId) {
      return (await deps.batches.get(batchId))?.webhookState;
    },
    async close() {
      await closeWorkerDeps(deps);
      await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
    },
  };
}
