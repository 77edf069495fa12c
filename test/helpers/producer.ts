import { createLogger, type Config } from '@imagefleet/core';
import { buildProducerApp, closeProducerDeps, createProducerDeps, type ProducerDeps } from '@imagefleet/producer';
import type { FastifyInstance } from 'fastify';
import type { BatchStatus } from '@imagefleet/core';
import type { BatchLister, ProducerApp, QueueSampler, Reconciler } from '@imagefleet/producer';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from './services.js';
import { testConfig, testEnv } from './fleet.js';
import { waitFor } from './processes.js';

export interface TestProducer {
  deps: ProducerDeps;
  app: FastifyInstance;
  lister: BatchLister;
  sampler: QueueSampler;
  reconciler: Reconciler;
  /** Every route the app registered (for the OpenAPI coverage check). */
  routes: ProducerApp['routes'];
  close(): Promise<void>;
}

/** The producer API in this process; tests talk to it with app.inject (no port). */
export async function startTestProducer(config: Config): Promise<TestProducer> {
  const deps = createProducerDeps(config, createLogger('test-producer', config.logLevel));
  const { app, lister, sampler, reconciler, routes } = await buildProducerApp(deps);
  await app.ready();
  return {
    deps,
    app,
    lister,
    sampler,
    reconciler,
    routes,
    async close() {
      await app.close();
      await closeProducerDeps(deps);
    },
  };
}

export interface ProducerWithServices {
  services: TestServices;
  config: Config;
  producer: TestProducer;
  /** Closes the producer, deletes its Redis keys and stops the services. */
  stop(): Promise<void>;
}

/** Redis and s3rver with these buckets, and a producer on them configured by testEnv plus `env`. */
export async function startProducerWithServices(buckets: string[], env: Record<string, string> = {}): Promise<ProducerWithServices> {
  const services = await startServices();
  await Promise.all(buckets.map((bucket) => ensureBucket(services, bucket)));
  const config = testConfig(testEnv(services, env));
  const producer = await startTestProducer(config);
  return {
    services,
    config,
    producer,
    async stop() {
      await producer.close();
      await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
      await services.stop();
    },
  };
}

export async function batchStatus(producer: TestProducer, batchId: string): Promise<BatchStatus> {
  const response = await producer.app.inject({ method: 'GET', url: `/v1/batches/${batchId}` });
  if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}: ${response.body}`);
  return response.json<BatchStatus>();
}

/** Waits until the batch's listing is paused for room (LISTING_AHEAD) with `total` inputs listed. */
export async function pausedForRoom(producer: TestProducer, batchId: string, total: number): Promise<BatchStatus> {
  let status: BatchStatus | undefined;
  await waitFor(async () => {
    status = await batchStatus(producer, batchId);
    return status.waitingFor === 'room' && status.total === total;
  }, 30_000, `the listing to pause for room: ${JSON.stringify(status)}`);
  return status!;
}

const FINISHED = new Set(['completed', 'completed_with_errors', 'cancelled']);

/** Polls the batch's status until it has ended: through app.inject, or a producer process's status(). */
export async function waitForBatchEnd(producer: TestProducer | { status(batchId: string): Promise<BatchStatus> }, batchId: string, timeoutMs = 60_000, pollMs = 100): Promise<BatchStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = 'app' in producer ? await batchStatus(producer, batchId) : await producer.status(batchId);
    if (FINISHED.has(status.state)) return status;
    if (Date.now() > deadline) throw new Error(`batch ${batchId} not finished after ${timeoutMs} ms: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
