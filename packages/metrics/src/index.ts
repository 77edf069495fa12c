import { Registry, collectDefaultMetrics } from 'prom-client';

export { Registry };
export * from './engine-metrics.js';
export * from './job-metrics.js';
export * from './queue-metrics.js';
export * from './gpu-sampler.js';

/** A registry per process with Node's default metrics; each app adds its own metrics to it. */
export function createMetricsRegistry(labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return registry;
}
