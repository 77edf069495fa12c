import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiKeyStore, createRedis } from '@imagefleet/jobs';
import { usePhotoWorld } from '../helpers/photo-world.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { testEnv } from '../helpers/fleet.js';
import { apiKey } from '../helpers/http.js';
import { syntheticPhoto } from '../helpers/images.js';
import { freePort, spawnLogged, stopProcess, waitFor } from '../helpers/processes.js';

const keys = ['auth/a.jpg', 'auth/b.jpg', 'auth/c.png'];
const world = usePhotoWorld(keys, 41);

test('a batch through a real fleet with AUTH=on: created, processed, read and exported with its key; invisible to another tenant', async () => {
  const fleet = await startTestFleet(world.services, world.stores, world.prefixes, { AUTH: 'on' });
  world.cleanups.push(() => fleet.close());
  fleet.startWorker();
  const owner = await apiKey(fleet.producer, ['submit', 'read']);
  const stranger = await apiKey(fleet.producer, ['submit', 'read']);
  const batchId = await fleet.submit({ task: 'inspect', source: { s3: { bucket: 'photos', prefix: 'auth/' } } }, owner.auth);
  const status = async (headers: Record<string, string>) => fleet.producer.app.inject({ url: `/v1/batches/${batchId}`, headers });
  await waitFor(async () => (await status(owner.auth)).json().state === 'completed', 60_000, 'the batch to complete');
  assert.equal((await status(owner.auth)).json().completed, keys.length);
  const results = await fleet.producer.app.inject({ url: `/v1/batches/${batchId}/results`, headers: owner.auth });
  assert.equal(results.statusCode, 200);
  assert.equal(results.body.trim().split('\n').length, keys.length);
  assert.equal((await status(stranger.auth)).statusCode, 404);
  assert.equal((await fleet.producer.app.inject({ url: `/v1/batches/${batchId}/results`, headers: stranger.auth })).statusCode, 404);
  assert.equal((await status({})).statusCode, 401);
  assert.equal((await fleet.manifest(batchId)).length, keys.length);
});

test('imagefleet up: auth off on loopback with no key (uploads and results never a local source), on once a key exists', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'imagefleet-up-auth-'));
  mkdirSync(join(cwd, 'photos'));
  mkdirSync(join(cwd, 'data', 'uploads'), { recursive: true });
  writeFileSync(join(cwd, 'photos', 'a.jpg'), await syntheticPhoto(5, 64, 48));
  const cli = fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url));
  const port = await freePort();
  const env: Record<string, string | undefined> = { ...process.env, ...testEnv(world.services, { PORT: String(port) }), AUTH: undefined, RESULTS_URL: undefined, UPLOADS_URL: undefined, LOCAL_SOURCE_ROOTS: undefined, HOST: undefined };
  world.prefixes.push(env.QUEUE_PREFIX!);
  const api = `http://127.0.0.1:${port}`;
  const up = async () => {
    const child = spawnLogged(process.execPath, [cli, 'up'], env, cwd);
    await waitFor(async () => (await fetch(`${api}/readyz`).catch(() => undefined))?.status === 200, 30_000, `up to be ready: ${child.output().slice(-300)}`);
    return child;
  };
  const post = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${api}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ task: 'inspect', source: { local: { path } } }) });
  try {
    const open = await up();
    try {
      assert.equal((await fetch(`${api}/v1/batches/bnope`)).status, 404, 'no key needed');
      for (const path of [join(cwd, 'data', 'uploads'), join(cwd, 'data', 'results'), cwd]) {
        const refused = await post(path);
        assert.equal(refused.status, 400, path);
        assert.match(((await refused.json()) as { message: string }).message, /^source\.local\.path must not be or contain the uploads or results directory/);
      }
      assert.equal((await post(join(cwd, 'photos'))).status, 202, 'the rest of the working directory');
    } finally {
      await stopProcess(open, 'SIGTERM', 20_000);
    }
    const redis = createRedis(world.services.redisUrl, 'test');
    const { token } = await new ApiKeyStore(redis, env.QUEUE_PREFIX!).create('me', ['read']).finally(() => redis.disconnect());
    const guarded = await up();
    try {
      assert.equal((await fetch(`${api}/v1/batches/bnope`)).status, 401, 'a key exists: auth is on');
      assert.equal((await fetch(`${api}/v1/batches/bnope`, { headers: { authorization: `Bearer ${token}` } })).status, 404);
    } finally {
      await stopProcess(guarded, 'SIGTERM', 20_000);
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
