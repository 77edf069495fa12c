import { Gauge, type Registry } from 'prom-client';

export interface QueueDepth {
  queue: string;
  counts: Record<string, number>;
}

export interface BatchProgress {
  id: string;
  task: string;
  total: number;
  done: number;
  failed: number;
  etaSeconds: number | null;
  throughput: number;
}

/**
 * Queue depth and batch progress, sampled by the producer every few seconds and cached, so a
 * scrape reads memory and never fans out to Redis. Only running batches have series (at most
 * `maxBatches`, newest first): they disappear when the batch ends.
 */
export function registerQueueMetrics(registry: Registry) {
  const depth = new Gauge({ name: 'imagefleet_queue_jobs', help: 'Jobs per queue and state (sampled)', labelNames: ['queue', 'state'], registers: [registry] });
  const progress = new Gauge({ name: 'imagefleet_batch_progress_ratio', help: 'Finished fraction of each running batch (sampled)', labelNames: ['batch', 'task'], registers: [registry] });
  const inputs = new Gauge({ name: 'imagefleet_batch_inputs', help: 'Inputs of each running batch by state: total, done, failed (sampled)', labelNames: ['batch', 'task', 'state'], registers: [registry] });
  const eta = new Gauge({ name: 'imagefleet_batch_eta_seconds', help: 'Estimated seconds until each running batch is done (sampled)', labelNames: ['batch', 'task'], registers: [registry] });
  const throughput = new Gauge({ name: 'imagefleet_batch_throughput_images_per_second', help: 'Images per second of each running batch since it started (sampled)', labelNames: ['batch', 'task'], registers: [registry] });
  return {
    setQueues(queues: QueueDepth[]): void {
      for (const { queue, counts } of queues) for (const [state, count] of Object.entries(counts)) depth.set({ queue, state }, count);
    },
    setBatches(batches: BatchProgress[]): void {
      for (const gauge of [progress, inputs, eta, throughput]) gauge.reset();
      for (const batch of batches) {
        const labels = { batch: batch.id, task: batch.task };
        progress.set(labels, batch.total > 0 ? batch.done / batch.total : 0);
        inputs.set({ ...labels, state: 'total' }, batch.total);
        inputs.set({ ...labels, state: 'done' }, batch.done);
        inputs.set({ ...labels, state: 'failed' }, batch.failed);
        throughput.set(labels, batch.throughput);
        if (batch.etaSeconds !== null) eta.set(labels, batch.etaSeconds);
      }
    },
  };
}
