import type { Config, Logger } from '@imagefleet/core';
import type { Registry } from '@imagefleet/metrics';
import { closeProducerDeps, createProducerDeps } from './deps.js';
import Fastify from 'fastify';
import { buildProducerApp } from './app.js';
import { metricsRoute } from './routes/health.js';

export interface RunningProducer {
  /** http://host:port the API listens on. */
  url: string;
  /** http://host:port of /metrics without a key, with PRODUCER_METRICS_PORT. */
  metricsUrl?: string;
  stop(): Promise<void>;
}

export async function startProducer(config: Config, logger: Logger, metrics?: Registry): Promise<RunningProducer> {
  const deps = createProducerDeps(config, logger, metrics);
  const { app, lister } = await buildProducerApp(deps);
  const address = await app.listen({ host: config.host, port: config.port });
  // Prometheus on an internal port (PRODUCER_METRICS_PORT), as a standalone worker serves it: no key.
  const metricsApp = config.producerMetricsPort === undefined ? undefined : Fastify();
  await metricsApp?.register(metricsRoute(deps));
  const metricsUrl = await metricsApp?.listen({ host: config.host, port: config.producerMetricsPort });
  await lister.resumeAll();
  logger.info({ url: address, metricsUrl }, 'producer listening');
  return {
    url: address,
    metricsUrl,
    async stop() {
      await metricsApp?.close();
      await app.close();
      await closeProducerDeps(deps);
    },
  };
}
