import type { Config, Logger } from '@imagefleet/core';
import { createJobBackend, type JobBackend } from '@imagefleet/jobs';
import { StoreRegistry, s3SettingsFrom } from '@imagefleet/storage';
import { createMetricsRegistry, type Registry } from '@imagefleet/metrics';

export interface ProducerDeps extends JobBackend {
  config: Config;
  logger: Logger;
  stores: StoreRegistry;
  metrics: Registry;
}

export function createProducerDeps(config: Config, logger: Logger, metrics = createMetricsRegistry({ service: 'producer' })): ProducerDeps {
  return { ...createJobBackend(config, 'imagefleet-producer'), config, logger, stores: new StoreRegistry(s3SettingsFrom(config)), metrics };
}

export async function closeProducerDeps(deps: ProducerDeps): Promise<void> {
  await deps.close();
  deps.stores.close();
}
