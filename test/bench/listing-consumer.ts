// The listing bench's consumer, in its own process as a fleet's workers are: BullMQ workers that do
// no work but record each input's outcome (as a worker does) and finalize the batch. Settings come
// from the environment (REDIS_URL, QUEUE_PREFIX, BENCH_CONSUMER_CONCURRENCY); it prints one line
// when its consumers are ready and stops on SIGTERM.
import { loadConfig } from '@imagefleet/core';
import { createJobBackend, createRedis, startConsumers } from '@imagefleet/jobs';

const config = loadConfig(process.env);
const concurrency = Number(process.env.BENCH_CONSUMER_CONCURRENCY ?? 200);
const backend = createJobBackend(config, 'bench-consumer-backend');
const connection = createRedis(config.redisUrl, 'bench-consumer');
const consumers = startConsumers(
  connection,
  {
    async image(job) {
      const { complete } = await backend.batches.recordOutcome(job.data.batchId, job.id, job.data.source.key, 'ok');
      if (complete) await backend.jobs.ensureFinalize(job.data.batchId);
    },
    async finalize(job) {
      await backend.batches.markFinished(job.data.batchId, 'completed');
    },
    async imageFailed() {},
    error: (error) => console.error('consumer error', error),
  },
  { prefix: config.queuePrefix, lockDurationMs: 30_000, stalledIntervalMs: 30_000, maxStalls: 1, imageConcurrency: concurrency },
);
await consumers.waitUntilReady();
console.log('consumers ready');
process.once('SIGTERM', () => {
  void (async () => {
    await consumers.close(10_000);
    connection.disconnect();
    await backend.close();
    process.exit(0);
  })();
});
