import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyModel, type TinyModelFiles } from '@imagefleet/engine';
import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { waitForBatchEnd } from '../helpers/producer.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { syntheticPhoto } from '../helpers/images.js';
import { llamaServerBinary } from '../helpers/llama-server.js';
import { hostileSchemas } from '../helpers/schema-cases.js';

/**
 * The issue's reproduction: 6 hostile and 6 good custom batches posted at once to a real fleet
 * (API in this process, a worker process with a real engine). Before the fix the hostile ones
 * crashed the engine, charged good jobs with it and ended the process. Now each hostile one is a
 * 400 naming its path, every good one completes, and the worker is alive throughout.
 */

let services: TestServices;
let stores: StoreRegistry;
let dir: string;
let tiny: TinyModelFiles;
const prefixes: string[] = [];

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
  stores = new StoreRegistry(services.s3);
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-schema-fleet-'));
  tiny = await makeTinyModel(join(dir, 'tiny'), { seed: 2 });
  await stores.open('s3://photos').put('schema/one.jpg', await syntheticPhoto(77, 320, 240));
});

after(async () => {
  stores?.close();
  if (services) {
    for (const prefix of prefixes) await deleteRedisPrefix(services.redisUrl, prefix);
    await services.stop();
  }
  rmSync(dir, { recursive: true, force: true });
});

const ISSUE_CASES = ['minLength 100,000,000', 'unanchored pattern', 'integer minimum above maximum', '300,000-value enum', '20,000 anyOf branches', 'pattern with \\d'];

for (const engine of ['server', 'llama']) {
  test(`ENGINE=${engine}: 6 hostile and 6 good custom batches at once: 6 x 400 naming the path, 6 completed, the worker alive`, async () => {
    const f = await startTestFleet(services, stores, prefixes, { ENGINE: engine, MODEL_PATH: tiny.model, MMPROJ_PATH: tiny.mmproj, ENGINE_THREADS: '1', LLAMA_SERVER_BIN: await llamaServerBinary() });
    try {
      const worker = f.startWorker();
      const source = { keys: ['schema/one.jpg'], bucket: 'photos' };
      const hostile = hostileSchemas.filter((schema) => ISSUE_CASES.includes(schema.name));
      assert.equal(hostile.length, 6);
      const good = Array.from({ length: 6 }, (_, index) => ({ type: 'boolean', description: `good ${index}` }));
      const post = (schema: unknown) => f.producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'custom', source, options: { prompt: 'Is there a mug?', schema } } });
      const responses = await Promise.all([...hostile.map((item) => post(item.schema)), ...good.map((schema) => post(schema))]);
      for (const [index, item] of hostile.entries()) {
        const response = responses[index]!;
        assert.equal(response.statusCode, 400, item.name);
        assert.equal(response.json().error, 'bad_request');
        assert.ok(String(response.json().message).startsWith(item.path), `${item.name}: ${response.json().message}`);
      }
      const batchIds = responses.slice(hostile.length).map((response) => {
        assert.equal(response.statusCode, 202, response.body);
        return response.json().batchId as string;
      });
      for (const batchId of batchIds) {
        const status = await waitForBatchEnd(f.producer, batchId, 180_000);
        assert.equal(status.state, 'completed', JSON.stringify(status));
      }
      assert.equal(worker.child.exitCode, null, 'the worker is alive');
      assert.equal(worker.child.signalCode, null);
    } finally {
      await f.close();
    }
  });
}
