import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FleetModel } from '@imagefleet/jobs';
import { startProducerWithServices, type ProducerWithServices } from '../helpers/producer.js';
import { apiKey } from '../helpers/http.js';
import { testEnv } from '../helpers/fleet.js';
import { stopProcess, waitFor } from '../helpers/processes.js';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.js';

const HEARTBEAT_MS = 500;
let fixture: ProducerWithServices;
let reader: { authorization: string };
let readerToken: string;
const workers: WorkerProcess[] = [];

before(async () => {
  fixture = await startProducerWithServices(['results'], { AUTH: 'on' });
  ({ auth: reader, token: readerToken } = await apiKey(fixture.producer, ['read'], 'fleet-reader'));
});
after(async () => {
  await Promise.all(workers.map((worker) => stopProcess(worker.child, 'SIGKILL')));
  await fixture?.stop();
});

async function fleet(): Promise<FleetModel[]> {
  const response = await fixture.producer.app.inject({ url: '/v1/models', headers: reader });
  assert.equal(response.statusCode, 200, response.body);
  return response.json<{ models: FleetModel[] }>().models;
}

function listed(models: FleetModel[], worker: WorkerProcess) {
  return models.flatMap((model) => model.workers).find((heartbeat) => heartbeat.workerId.endsWith(`:${worker.child.pid}`));
}

/** A real `imagefleet worker` process (ENGINE=none) on the test's Redis prefix; resolves once GET /v1/models lists it. */
async function startWorker(env: Record<string, string> = {}): Promise<WorkerProcess> {
  const worker = spawnWorker(testEnv(fixture.services, { QUEUE_PREFIX: fixture.config.queuePrefix, HEARTBEAT_MS: String(HEARTBEAT_MS), ...env }));
  workers.push(worker);
  await waitFor(async () => {
    if (worker.child.exitCode !== null) throw new Error(`the worker exited: ${worker.child.output()}`);
    return listed(await fleet(), worker) !== undefined;
  }, 30_000, 'the worker to be listed');
  return worker;
}

test('a started worker is listed with its heartbeat; a graceful stop removes it at once', async () => {
  const worker = await startWorker();
  const started = Date.now();
  const heartbeat = listed(await fleet(), worker)!;
  assert.match(heartbeat.workerId, /^.+:\d+$/);
  assert.deepEqual({ ...heartbeat, workerId: undefined, lastSeen: undefined }, {
    workerId: undefined, lastSeen: undefined, modelId: 'none', engine: 'none', device: 'cpu', slots: 0, imagesPerSecond: 0, jobsInFlight: 0,
  });
  assert.ok(Math.abs(Date.parse(heartbeat.lastSeen) - started) < 5_000, heartbeat.lastSeen);
  // The heartbeat is renewed: lastSeen moves on while the worker lives.
  await waitFor(async () => Date.parse(listed(await fleet(), worker)?.lastSeen ?? '') > Date.parse(heartbeat.lastSeen), 10_000, 'a newer heartbeat');
  assert.equal(await stopProcess(worker.child, 'SIGTERM'), 0);
  assert.equal(listed(await fleet(), worker), undefined);
});

test('a SIGKILLed worker stays listed until its heartbeat expires, then disappears', async () => {
  const worker = await startWorker();
  await stopProcess(worker.child, 'SIGKILL');
  const killedAt = Date.now();
  assert.notEqual(listed(await fleet(), worker), undefined);
  await waitFor(async () => listed(await fleet(), worker) === undefined, 10_000 + HEARTBEAT_MS * 3, 'the dead worker to disappear');
  assert.ok(Date.now() - killedAt <= HEARTBEAT_MS * 3 + 2_000, `gone after ${Date.now() - killedAt} ms`);
});

test('workers with different MODEL_IDs list as different models, with totals per model', async () => {
  const [alphaOne, alphaTwo, beta] = await Promise.all([startWorker({ MODEL_ID: 'alpha-1' }), startWorker({ MODEL_ID: 'alpha-1' }), startWorker({ MODEL_ID: 'beta-2' })]);
  const models = (await fleet()).filter((model) => model.modelId !== 'none');
  assert.deepEqual(models.map((model) => model.modelId), ['alpha-1', 'beta-2']);
  assert.deepEqual(models[0]!.totals, { workers: 2, slots: 0, imagesPerSecond: 0 });
  assert.deepEqual(models[0]!.queue, { waiting: 0, active: 0 });
  assert.deepEqual(new Set(models[0]!.workers.map((heartbeat) => heartbeat.workerId.split(':').pop())), new Set([String(alphaOne.child.pid), String(alphaTwo.child.pid)]));
  assert.deepEqual(models[1]!.workers.map((heartbeat) => heartbeat.workerId.split(':').pop()), [String(beta.child.pid)]);
  assert.equal(models[1]!.totals.workers, 1);

  const address = await fixture.producer.app.listen({ host: '127.0.0.1', port: 0 });
  const cli = fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'fleet', '--api', address, '--api-key', readerToken], { encoding: 'utf8' });
  const rows = stdout.trimEnd().split('\n').map((line) => line.split(/\s{2,}/));
  assert.deepEqual(rows[0], ['MODEL', 'WORKER', 'ENGINE', 'DEVICE', 'SLOTS', 'IMAGES/S', 'IN FLIGHT', 'LAST SEEN', 'QUEUED', 'RUNNING']);
  const betaRows = rows.filter((row) => row[0] === 'beta-2');
  // The total row ends with the model's queue (no jobs: 0 queued, 0 running).
  assert.deepEqual(betaRows.map((row) => row.slice(1, 7)), [[`${models[1]!.workers[0]!.workerId}`, 'none', 'cpu', '0', '0', '0'], ['(1 workers)', '0', '0', '0', '0']]);
  assert.equal(rows.filter((row) => row[0] === 'alpha-1').length, 3);
});

test('GET /v1/models needs the read scope', async () => {
  const submitter = await apiKey(fixture.producer, ['submit'], 'fleet-submitter');
  const response = await fixture.producer.app.inject({ url: '/v1/models', headers: submitter.auth });
  assert.equal(response.statusCode, 403, response.body);
  assert.equal(response.json<{ error: string }>().error, 'forbidden');
  assert.equal((await fixture.producer.app.inject({ url: '/v1/models' })).statusCode, 401);
});
