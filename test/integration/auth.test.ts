import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { deriveJobId, type Config } from '@imagefleet/core';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer, type TestProducer } from '../helpers/producer.js';
import { apiKey, multipart } from '../helpers/http.js';
import { syntheticPhoto } from '../helpers/images.js';

let services: TestServices;
let config: Config;
let producer: TestProducer;

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads', 'photos', 'private'].map((bucket) => ensureBucket(services, bucket)));
  config = testConfig(testEnv(services, { AUTH: 'on', ALLOWED_SOURCE_BUCKETS: 'photos,uploads' }));
  producer = await startTestProducer(config);
});
after(async () => {
  await producer?.close();
  if (services) {
    await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
    await services.stop();
  }
});

const keysSource = (key: string) => ({ task: 'inspect', source: { keys: [key], bucket: 'photos' } });

async function post(headers: Record<string, string>, body: object) {
  return producer.app.inject({ method: 'POST', url: '/v1/batches', headers, payload: body });
}

test('no key, an unknown or malformed token, and a revoked key are 401; /healthz and /readyz stay open', async () => {
  const { id, token, auth } = await apiKey(producer, ['read']);
  const forged = `${token.slice(0, -4)}AAAA`;
  for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Bearer ${forged}` }, { authorization: `Basic ${token}` }]) {
    const response = await producer.app.inject({ url: '/v1/batches/bnope', headers });
    assert.equal(response.statusCode, 401, JSON.stringify(headers));
    assert.equal(response.json().error, 'unauthorized');
    assert.equal(response.headers['www-authenticate'], 'Bearer');
  }
  assert.equal((await producer.app.inject({ url: '/v1/batches/bnope', headers: auth })).statusCode, 404, 'a valid key gets through');
  assert.equal(await producer.deps.apiKeys.revoke(id), true);
  assert.equal((await producer.app.inject({ url: '/v1/batches/bnope', headers: auth })).statusCode, 401, 'revoked');
  assert.equal((await producer.app.inject({ url: '/metrics' })).statusCode, 401, '/metrics wants a key on the API port');
  assert.equal((await producer.app.inject({ url: '/healthz' })).statusCode, 200);
  assert.equal((await producer.app.inject({ url: '/readyz' })).statusCode, 200);
});

test('a key without the route scope is 403; admin has every scope; the metrics scope reads /metrics', async () => {
  const reader = await apiKey(producer, ['read']);
  const submitter = await apiKey(producer, ['submit']);
  const metrics = await apiKey(producer, ['metrics']);
  const forbidden = await post(reader.auth, keysSource('a.jpg'));
  assert.equal(forbidden.statusCode, 403);
  assert.deepEqual(forbidden.json(), { error: 'forbidden', message: 'this API key lacks the "submit" scope' });
  const created = await post(submitter.auth, keysSource('scopes.jpg'));
  assert.equal(created.statusCode, 202);
  assert.equal((await producer.app.inject({ url: `/v1/batches/${created.json().batchId}`, headers: submitter.auth })).statusCode, 403, 'submit cannot read');
  assert.equal((await producer.app.inject({ url: '/metrics', headers: reader.auth })).statusCode, 403);
  const scraped = await producer.app.inject({ url: '/metrics', headers: metrics.auth });
  assert.equal(scraped.statusCode, 200);
  assert.match(scraped.body, /process_resident_memory_bytes/);
  assert.equal((await producer.app.inject({ url: '/v1/batches/bnope', headers: metrics.auth })).statusCode, 403);
});

test('tenants: another tenant sees 404 for status, results, cancel and jobs; ids differ per tenant; admin sees all', async () => {
  const alice = await apiKey(producer, ['submit', 'read']);
  const bob = await apiKey(producer, ['submit', 'read']);
  const admin = await apiKey(producer, ['admin']);
  const aliceBatch = (await post(alice.auth, keysSource('tenant.jpg'))).json().batchId as string;
  const bobPost = await post(bob.auth, keysSource('tenant.jpg'));
  assert.equal(bobPost.statusCode, 202);
  assert.notEqual(bobPost.json().batchId, aliceBatch, 'the same request of another tenant is another batch');
  assert.equal(bobPost.json().created, true);
  assert.deepEqual((await post(alice.auth, keysSource('tenant.jpg'))).json(), { batchId: aliceBatch, created: false }, 'the same request again is idempotent');

  const missing = await producer.app.inject({ url: '/v1/batches/bnope', headers: bob.auth });
  for (const [method, url] of [['GET', `/v1/batches/${aliceBatch}`], ['GET', `/v1/batches/${aliceBatch}/results`], ['DELETE', `/v1/batches/${aliceBatch}`], ['GET', `/v1/jobs/${deriveJobId(aliceBatch, 'tenant.jpg')}`]] as const) {
    const response = await producer.app.inject({ method, url, headers: bob.auth });
    assert.equal(response.statusCode, 404, `${method} ${url}`);
    assert.equal(response.json().error, 'not_found');
    assert.equal(typeof response.json().message, 'string');
  }
  assert.equal(missing.statusCode, 404);
  assert.notEqual((await producer.deps.batches.get(aliceBatch))?.state, 'cancelled', "bob's DELETE cancelled nothing");
  assert.equal((await producer.deps.batches.get(aliceBatch))?.tenant, alice.id);
  assert.equal((await producer.app.inject({ url: `/v1/batches/${aliceBatch}`, headers: alice.auth })).statusCode, 200);
  assert.equal((await producer.app.inject({ url: `/v1/batches/${aliceBatch}`, headers: admin.auth })).statusCode, 200, 'admin sees every tenant');
  assert.equal((await producer.app.inject({ method: 'DELETE', url: `/v1/batches/${aliceBatch}`, headers: alice.auth })).statusCode, 200, 'the owner cancels');
});

test('a chosen batchId taken by another tenant or another request is 409; the same request is created:false', async () => {
  const alice = await apiKey(producer, ['submit']);
  const bob = await apiKey(producer, ['submit']);
  const batchId = `claimed_${Date.now()}`;
  assert.equal((await post(alice.auth, { ...keysSource('claim.jpg'), batchId })).json().created, true);
  const claimed = await post(bob.auth, { ...keysSource('claim.jpg'), batchId });
  assert.equal(claimed.statusCode, 409);
  assert.equal(claimed.json().error, 'conflict');
  const other = await post(alice.auth, { ...keysSource('other.jpg'), batchId });
  assert.equal(other.statusCode, 409, 'a different request of the same tenant');
  assert.deepEqual((await post(alice.auth, { ...keysSource('claim.jpg'), batchId })).json(), { batchId, created: false });
});

test('ALLOWED_SOURCE_BUCKETS: another bucket, or the uploads prefix of an allowed one, is a 400 naming the field', async () => {
  const { auth } = await apiKey(producer, ['submit']);
  const cases: [object, RegExp][] = [
    [{ s3: { bucket: 'private', prefix: 'hr/' } }, /^source\.s3\.bucket must be one of the buckets this server allows/],
    [{ keys: ['a.jpg'], bucket: 'private' }, /^source\.bucket must be one of the buckets this server allows/],
    [{ s3: { bucket: 'uploads', prefix: '' } }, /^source\.s3\.prefix must not be or contain the uploads or results prefix/],
    [{ s3: { bucket: 'uploads', prefix: `${config.uploadsUrl.split('/').slice(3).join('/')}/u123/` } }, /^source\.s3\.prefix must not be or contain/],
    [{ keys: [`${config.uploadsUrl.split('/').slice(3).join('/')}/u1/a.jpg`], bucket: 'uploads' }, /^source\.keys\[0\] is under the uploads or results prefix/],
  ];
  for (const [source, message] of cases) {
    const response = await post(auth, { task: 'inspect', source });
    assert.equal(response.statusCode, 400, JSON.stringify(source));
    assert.equal(response.json().error, 'bad_request');
    assert.match(response.json().message, message);
  }
  assert.equal((await post(auth, { task: 'inspect', source: { s3: { bucket: 'uploads', prefix: 'shared-photos/' } } })).statusCode, 202, 'the rest of an allowed bucket');
});

test('uploads belong to their tenant: another tenant gets 404 for the job', async () => {
  const alice = await apiKey(producer, ['submit', 'read']);
  const bob = await apiKey(producer, ['read']);
  const body = multipart([{ name: 'task', content: 'inspect' }, { name: 'file', filename: 'a.jpg', content: await syntheticPhoto(1, 64, 48) }]);
  const upload = await producer.app.inject({ method: 'POST', url: '/v1/images', payload: body.payload, headers: { ...body.headers, ...alice.auth } });
  assert.equal(upload.statusCode, 202, upload.body);
  const { jobId, batchId } = upload.json() as { jobId: string; batchId: string };
  assert.equal((await producer.app.inject({ url: `/v1/jobs/${jobId}`, headers: bob.auth })).statusCode, 404);
  assert.equal((await producer.app.inject({ url: `/v1/batches/${batchId}`, headers: bob.auth })).statusCode, 404);
  assert.equal((await producer.app.inject({ url: `/v1/jobs/${jobId}`, headers: alice.auth })).statusCode, 200);
});

test('imagefleet keys create prints a token once; list shows no token; revoke makes it 401', () => {
  const cli = fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url));
  const env = { ...process.env, REDIS_URL: services.redisUrl, QUEUE_PREFIX: config.queuePrefix };
  const created = spawnSync(process.execPath, [cli, 'keys', 'create', '--name', 'ci bot', '--scope', 'submit,read'], { env, encoding: 'utf8' });
  assert.equal(created.status, 0, created.stderr);
  const token = created.stdout.trim();
  assert.match(token, /^ifk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  const id = token.split('_')[1]!;
  const listed = spawnSync(process.execPath, [cli, 'keys', 'list'], { env, encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^${id}  active .*submit,read.*ci bot$`, 'm'));
  assert.ok(!listed.stdout.includes(token.split('_').slice(2).join('_')), 'no secret in the listing');
  const badScope = spawnSync(process.execPath, [cli, 'keys', 'create', '--name', 'x', '--scope', 'root'], { env, encoding: 'utf8' });
  assert.equal(badScope.status, 2);
  assert.match(badScope.stderr, /scope must be a comma-separated list of submit, read, metrics, admin \(got "root"\)/);
  assert.equal(spawnSync(process.execPath, [cli, 'keys', 'revoke', id], { env, encoding: 'utf8' }).status, 0);
  assert.equal(spawnSync(process.execPath, [cli, 'keys', 'revoke', '0123456789abcdef'], { env, encoding: 'utf8' }).status, 1, 'an unknown id');
  assert.match(spawnSync(process.execPath, [cli, 'keys', 'list'], { env, encoding: 'utf8' }).stdout, new RegExp(`^${id}  revoked`, 'm'));
});

test('the stored key holds a SHA-256 of the token, never the token', async () => {
  const { id, token } = await apiKey(producer, ['read']);
  const stored = await producer.deps.redis.hgetall(`${config.queuePrefix}:apikey:${id}`);
  assert.equal(stored.hash?.length, 64);
  assert.ok(!Object.values(stored).some((value) => value.includes(token.slice(21))));
});
