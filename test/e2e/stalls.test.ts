import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveJobId } from '@imagefleet/core';
import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer, waitForBatchEnd, type TestProducer } from '../helpers/producer.js';
import { syntheticPhoto } from '../helpers/images.js';
import { stopProcess, waitFor } from '../helpers/processes.js';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { startTcpForwarder, type TcpForwarder } from '../helpers/tcp-forwarder.js';

/** Worker deaths around an input are not evidence against it: it survives JOB_MAX_STALLS - 1 of them. */
let services: TestServices;
let stores: StoreRegistry;
let forwarder: TcpForwarder;
let producer: TestProducer;
let prefix: string;
const workers: WorkerProcess[] = [];

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'photos'].map((bucket) => ensureBucket(services, bucket)));
  stores = new StoreRegistry(services.s3);
  await stores.open('s3://photos').put('stall/one.jpg', await syntheticPhoto(700, 96, 64));
  const endpoint = new URL(services.s3.endpoint);
  forwarder = await startTcpForwarder({ host: endpoint.hostname, port: Number(endpoint.port) });
});

after(async () => {
  await Promise.all(workers.map((worker) => stopProcess(worker.child, 'SIGKILL')));
  await producer?.close();
  await forwarder?.close();
  stores?.close();
  if (services) {
    if (prefix) await deleteRedisPrefix(services.redisUrl, prefix);
    await services.stop();
  }
});

test('an input whose worker is SIGKILLed twice while holding it still completes (JOB_MAX_STALLS defaults to 3)', async () => {
  const env = testEnv(services, { JOB_LOCK_MS: '1000', STALLED_CHECK_MS: '500', WORKER_CONCURRENCY: '1', S3_REQUEST_TIMEOUT_MS: '60000' });
  prefix = env.QUEUE_PREFIX!;
  producer = await startTestProducer(testConfig(env));
  const response = await producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'inspect', source: { keys: ['stall/one.jpg'], bucket: 'photos' } } });
  assert.equal(response.statusCode, 202, response.body);
  const batchId = response.json().batchId as string;
  const jobId = deriveJobId(batchId, 'stall/one.jpg');
  await producer.lister.idle();
  // Workers reach S3 through the forwarder; while it holds connections, a job stays in its fetch.
  await forwarder.hold();
  const workerEnv = { ...env, S3_ENDPOINT: forwarder.url };
  for (let death = 1; death <= 2; death++) {
    const worker = spawnWorker(workerEnv);
    workers.push(worker);
    await waitFor(async () => {
      const job = await producer.deps.queues.images.getJob(jobId);
      return job !== undefined && job.attemptsStarted === death && (await job.getState()) === 'active';
    }, 30_000, `attempt ${death} to be taken by a worker`);
    worker.child.kill('SIGKILL');
    await worker.exited;
  }
  await forwarder.forward();
  workers.push(spawnWorker(workerEnv));
  const status = await waitForBatchEnd(producer, batchId, 60_000);
  assert.deepEqual([status.state, status.completed, status.failed], ['completed', 1, 0]);
});
