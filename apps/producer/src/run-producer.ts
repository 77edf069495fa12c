import type { Config, Logger } from '@imagefleet/core';
import type { Registry } from '@imagefleet/metrics';
import { closeProducerDeps, createProducerDeps } from './deps.js';
import { buildProducerApp } from './app.js';

export interface RunningProducer {
  /** http://host:port the API listens on. */
  url: string;
  stop(): Promise<void>;
}

export async function startProducer(config: Config, logger: Logger, metrics?: Registry): Promise<RunningProducer> {
  const deps = createProducerDeps(config, logger, metrics);
  const { app, lister } = await buildProducerApp(deps);
  const address = await app.listen({ host: config.host, port: config.port });
  await lister.resumeAll();
  logger.info({ url: address }, 'producer listening');
  return {
    url: address,
    async stop() {
      await app.close();
      await closeProducerDeps(deps);
    },
  };
}
