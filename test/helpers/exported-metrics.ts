import { GpuSampler, Registry, createMetricsRegistry, registerEngineMetrics, registerJobMetrics, registerQueueMetrics } from '@imagefleet/metrics';

/** Every metric name the producer and workers export, from the code's own registrations. */
export async function exportedMetricNames(): Promise<Map<string, { type: string; labels: string[] }>> {
  const registry: Registry = createMetricsRegistry();
  registerJobMetrics(registry);
  registerQueueMetrics(registry);
  registerEngineMetrics(registry, { slotsPlanned: () => 0, slotsAllowed: () => 0, slotsBusy: () => 0, deviceMemory: () => undefined, engineUp: () => false, restarts: () => 0, oomBackoffs: () => 0, engineKind: () => undefined, requests: () => 0, tokens: () => undefined, stats: async () => ({}) });
  new GpuSampler(registry, { intervalMs: 1000 });
  const names = new Map<string, { type: string; labels: string[] }>();
  for (const metric of await registry.getMetricsAsJSON()) {
    const labels = [...new Set(metric.values.flatMap((value) => Object.keys(value.labels)))];
    const declared = (registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] } | undefined)?.labelNames ?? labels;
    names.set(metric.name, { type: String(metric.type), labels: [...declared] });
  }
  names.set('up', { type: 'gauge', labels: ['job', 'instance'] });
  return names;
}

/** imagefleet_* names in a PromQL expression, with histogram suffixes folded to their base name. */
export function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(/\b(imagefleet_[a-z0-9_]+|up)\b(?=\s*[{[(\s)]|$)/g)].map((match) => match[1]!.replace(/_(bucket|count|sum)$/, ''));
}
