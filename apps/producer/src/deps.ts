import type { Config, Logger } from '@imagefleet/core';
import { createJobBackend, type JobBackend, type RoundsClamped } from '@imagefleet/jobs';
import { StoreRegistry, s3SettingsFrom } from '@imagefleet/storage';
import { createMetricsRegistry, type Registry } from '@imagefleet/metrics';

/**
 * The producer's outside world. Its own JobBackend (redis, batches, jobs, queues) is on a
 * fail-fast connection, for request paths: while Redis is unreachable a request fails within
 * about a second with UnavailableError (503). `background` is a patient connection for the lister,
 * the reconciler and the sampler, which wait Redis out instead of failing.
 */
export interface ProducerDeps extends JobBackend {
  background: JobBackend;
  config: Config;
  logger: Logger;
  stores: StoreRegistry;
  metrics: Registry;
}

export function createProducerDeps(config: Config, logger: Logger, metrics = createMetricsRegistry({ service: 'producer' })): ProducerDeps {
  const onError = (error: Error, queue: string) => logger.warn({ err: error, queue }, 'Redis connection error (requests answer 503 until it is back)');
  const onRoundsClamped = (event: RoundsClamped) => logger.warn(event, 'fair share: jobs got the highest BullMQ priority (a busy period outgrew the round range); they are served in arrival order until the queue empties');
  return {
    ...createJobBackend(config, 'imagefleet-producer', { failFast: true, onError, onRoundsClamped }),
    background: createJobBackend(config, 'imagefleet-producer-background', { onError, onRoundsClamped }),
    config,
    logger,
    stores: new StoreRegistry(s3SettingsFrom(config)),
    metrics,
  };
}

export async function closeProducerDeps(deps: ProducerDeps): Promise<void> {
  await deps.close();
  await deps.background.close();
  deps.stores.close();
}
