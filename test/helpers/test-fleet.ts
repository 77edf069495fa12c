import assert from 'node:assert/strict';
import type { ResultLine } from '@imagefleet/core';
import type { StoreRegistry } from '@imagefleet/storage';
import { rmSync } from 'node:fs';
import { deleteRedisPrefix, type TestServices } from './services.js';
import { testConfig, testEnv } from './fleet.js';
import { readManifest, readManifestLines } from './manifest.js';
import { startTestProducer } from './producer.js';
import { stopProcess } from './processes.js';
import { spawnWorker, type WorkerProcess } from './worker-process.js';

/**
 * One fleet per scenario: its own Redis prefix (pushed to `prefixes` for cleanup) and results
 * prefix, the producer in this process, workers as real child processes.
 */
export async function startTestFleet(services: TestServices, stores: StoreRegistry, prefixes: string[], extra: Record<string, string> = {}) {
  const env = testEnv(services, extra);
  prefixes.push(env.QUEUE_PREFIX!);
  const config = testConfig(env);
  const producer = await startTestProducer(config);
  const workers: WorkerProcess[] = [];
  return {
    env,
    config,
    producer,
    workers,
    startWorker(extraEnv: Record<string, string> = {}): WorkerProcess {
      const worker = spawnWorker({ ...env, ...extraEnv });
      workers.push(worker);
      return worker;
    },
    /** POST /v1/batches (with an Authorization header when the fleet runs with AUTH=on); returns the batch id. */
    async submit(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
      const response = await producer.app.inject({ method: 'POST', url: '/v1/batches', payload: body, headers });
      assert.equal(response.statusCode, 202, response.body);
      return response.json().batchId as string;
    },
    manifest: (batchId: string): Promise<ResultLine[]> => readManifest(stores, config.resultsUrl, batchId),
    /** Outcome lines and skipped lines alike. */
    manifestLines: (batchId: string) => readManifestLines(stores, config.resultsUrl, batchId),
    async close() {
      await Promise.all(workers.map((worker) => stopProcess(worker.child, 'SIGTERM', 20_000)));
      await producer.close();
    },
  };
}

/** A fleet test file's after(): closes the stores, drops the fleets' Redis keys, stops the services, removes the scratch directory. */
export async function cleanUpFleetTests(state: { services?: TestServices; stores?: StoreRegistry; prefixes: string[]; dir?: string }): Promise<void> {
  state.stores?.close();
  if (state.services) {
    for (const prefix of state.prefixes) await deleteRedisPrefix(state.services.redisUrl, prefix);
    await state.services.stop();
  }
  if (state.dir) rmSync(state.dir, { recursive: true, force: true });
}
