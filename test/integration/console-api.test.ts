import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { waitForBatchEnd } from '../helpers/producer.js';
import { apiKey } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { syntheticPhoto, truncated } from '../helpers/images.js';

let services: TestServices;
let stores: StoreRegistry;
const prefixes: string[] = [];
let fleet: Awaited<ReturnType<typeof startTestFleet>>;
let batchId: string;
let owner: Awaited<ReturnType<typeof apiKey>>;

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
  stores = new StoreRegistry(services.s3);
  const photos = stores.open('s3://photos');
  await photos.put('console/good.jpg', await syntheticPhoto(1, 1200, 800));
  await photos.put('console/broken.jpg', truncated(await syntheticPhoto(2, 640, 480)));
  await photos.put('console/never-listed.jpg', await syntheticPhoto(3));
  fleet = await startTestFleet(services, stores, prefixes, { AUTH: 'on' });
  fleet.startWorker();
  owner = await apiKey(fleet.producer, ['submit', 'read']);
  batchId = await fleet.submit({ task: 'inspect', source: { keys: ['console/good.jpg', 'console/broken.jpg'], bucket: 'photos' } }, owner.auth);
  await waitForBatchEnd({ status: async (id) => (await fleet.producer.app.inject({ url: `/v1/batches/${id}`, headers: owner.auth })).json() }, batchId, 60_000);
});

after(async () => {
  await fleet?.close();
  stores?.close();
  if (services) {
    for (const prefix of prefixes) await deleteRedisPrefix(services.redisUrl, prefix);
    await services.stop();
  }
});

const thumbnailUrl = (key: string, id = batchId) => `/v1/batches/${id}/thumbnail?key=${encodeURIComponent(key)}`;

test('/openapi.json documents every API route with its answers; the console files and bull-board stay out', async () => {
  const response = await fleet.producer.app.inject({ url: '/openapi.json' });
  assert.equal(response.statusCode, 200);
  const spec = response.json<{ openapi: string; paths: Record<string, Record<string, { responses?: Record<string, unknown> }>> }>();
  assert.match(spec.openapi, /^3\./);
  const documented = fleet.producer.routes.filter((route) => !route.hidden);
  assert.ok(documented.length >= 14, `only ${documented.length} routes`);
  for (const route of documented) {
    const path = route.url.replace(/:(\w+)/g, '{$1}');
    const operation = spec.paths[path]?.[route.method.toLowerCase()];
    assert.ok(operation, `${route.method} ${route.url} is missing from /openapi.json`);
    const statuses = Object.keys(operation.responses ?? {});
    assert.ok(statuses.some((status) => /^2\d\d$/.test(status)), `${route.method} ${route.url} documents no success answer (${statuses.join(', ')})`);
    if (route.url.startsWith('/v1/')) for (const status of ['400', '401', '403', '429', '503']) assert.ok(statuses.includes(status), `${route.method} ${route.url} does not document ${status}`);
  }
  const hidden = fleet.producer.routes.filter((route) => route.hidden).map((route) => route.url);
  assert.ok(hidden.includes('/'), 'the console page is a hidden route');
  assert.ok(hidden.some((url) => url.startsWith('/admin/queues')), 'bull-board routes are hidden');
  for (const url of hidden) assert.equal(spec.paths[url.replace(/:(\w+)/g, '{$1}')], undefined, `${url} leaked into /openapi.json`);
  assert.equal((await fleet.producer.app.inject({ url: '/docs/' })).statusCode, 200, 'the docs page');
});

test('the console is served at / with its hashed assets, under a same-origin-only CSP', async () => {
  const page = await fleet.producer.app.inject({ url: '/' });
  assert.equal(page.statusCode, 200);
  assert.match(page.headers['content-type'] as string, /text\/html/);
  const script = /<script type="module" crossorigin src="(\/assets\/[^"]+\.js)"/.exec(page.body)?.[1];
  assert.ok(script, page.body);
  const asset = await fleet.producer.app.inject({ url: script });
  assert.equal(asset.statusCode, 200);
  assert.match(asset.headers['cache-control'] as string, /immutable/);
  const csp = page.headers['content-security-policy'] as string;
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /img-src 'self' data: blob:/);
});

test('a thumbnail is a JPEG of at most 256 px, for the batch owner only and only for inputs the batch finished', async () => {
  const response = await fleet.producer.app.inject({ url: thumbnailUrl('console/good.jpg'), headers: owner.auth });
  assert.equal(response.statusCode, 200, response.body);
  assert.equal(response.headers['content-type'], 'image/jpeg');
  const meta = await sharp(response.rawPayload).metadata();
  assert.equal(meta.format, 'jpeg');
  assert.equal(Math.max(meta.width!, meta.height!), 256);
  const again = await fleet.producer.app.inject({ url: thumbnailUrl('console/good.jpg'), headers: owner.auth });
  assert.deepEqual(again.rawPayload, response.rawPayload, 'served again (from the cache) unchanged');

  const broken = await fleet.producer.app.inject({ url: thumbnailUrl('console/broken.jpg'), headers: owner.auth });
  assert.equal(broken.statusCode, 422);
  assert.equal(broken.json().error, 'corrupt_image');
  const unlisted = await fleet.producer.app.inject({ url: thumbnailUrl('console/never-listed.jpg'), headers: owner.auth });
  assert.equal(unlisted.statusCode, 404, 'a key outside the batch is never read from its source');
  assert.equal((await fleet.producer.app.inject({ url: `/v1/batches/${batchId}/thumbnail?key=` , headers: owner.auth })).statusCode, 400);

  const stranger = await apiKey(fleet.producer, ['read']);
  assert.equal((await fleet.producer.app.inject({ url: thumbnailUrl('console/good.jpg'), headers: stranger.auth })).statusCode, 404, "another tenant's batch");
  const submitOnly = await apiKey(fleet.producer, ['submit']);
  assert.equal((await fleet.producer.app.inject({ url: thumbnailUrl('console/good.jpg'), headers: submitOnly.auth })).statusCode, 403);
  assert.equal((await fleet.producer.app.inject({ url: thumbnailUrl('console/good.jpg') })).statusCode, 401);
});

test('results download as CSV with flattened fields; an unknown format is a 400', async () => {
  const csv = await fleet.producer.app.inject({ url: `/v1/batches/${batchId}/results?format=csv`, headers: owner.auth });
  assert.equal(csv.statusCode, 200, csv.body);
  assert.match(csv.headers['content-type'] as string, /^text\/csv/);
  const [header, ...rows] = csv.body.trim().split('\n');
  assert.ok(header!.startsWith('key,status,error_code,error_message'), header);
  assert.ok(header!.includes('result.width'), csv.body);
  assert.equal(rows.length, 2);
  assert.ok(rows.some((row) => row.startsWith('console/broken.jpg,failed,corrupt_image,')));
  const bad = await fleet.producer.app.inject({ url: `/v1/batches/${batchId}/results?format=xml`, headers: owner.auth });
  assert.equal(bad.statusCode, 400);
});

test('bull-board at /admin/queues answers admin keys only, by header or by the session cookie', async () => {
  assert.equal((await fleet.producer.app.inject({ url: '/admin/queues' })).statusCode, 401);
  assert.equal((await fleet.producer.app.inject({ url: '/admin/queues', headers: owner.auth })).statusCode, 403);
  const admin = await apiKey(fleet.producer, ['admin']);
  const page = await fleet.producer.app.inject({ url: '/admin/queues', headers: admin.auth });
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<title>imagefleet<\/title>/);

  assert.equal((await fleet.producer.app.inject({ method: 'POST', url: '/v1/admin/session', headers: owner.auth })).statusCode, 403, 'only admin keys get the cookie');
  const session = await fleet.producer.app.inject({ method: 'POST', url: '/v1/admin/session', headers: admin.auth });
  assert.equal(session.statusCode, 204);
  const cookie = session.cookies.find((entry) => entry.name === 'imagefleet_admin');
  assert.ok(cookie, 'the session sets the cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/admin/queues');
  const queues = await fleet.producer.app.inject({ url: '/admin/queues/api/queues', cookies: { imagefleet_admin: cookie.value } });
  assert.equal(queues.statusCode, 200, queues.body);
  const names = (queues.json() as { queues: { name: string }[] }).queues.map((queue) => queue.name).sort();
  assert.deepEqual(names, ['finalize', 'images', 'vlm', 'webhooks']);
  // A model's own queue used after the board was mounted (no worker serves the model: its job waits there) joins on the next API call.
  await fleet.submit({ task: 'tagging', model: 'board-model', source: { keys: ['console/good.jpg'], bucket: 'photos' } }, owner.auth);
  const waitingOnBoard = async () => {
    const answer = await fleet.producer.app.inject({ url: '/admin/queues/api/queues', cookies: { imagefleet_admin: cookie.value } });
    const queue = (answer.json() as { queues: { name: string; counts: Record<string, number> }[] }).queues.find((entry) => entry.name === 'vlm-board-model');
    return (queue?.counts.prioritized ?? 0) + (queue?.counts.waiting ?? 0);
  };
  await waitFor(async () => (await waitingOnBoard()) === 1, 30_000, 'the model queue on the board with its waiting job');
  const crossSite = await fleet.producer.app.inject({ url: '/admin/queues/api/queues', cookies: { imagefleet_admin: cookie.value }, headers: { origin: 'https://evil.example' } });
  assert.equal(crossSite.statusCode, 403, 'a cross-origin request is refused even with the cookie');
  const wrongCookie = await fleet.producer.app.inject({ url: '/admin/queues/api/queues', cookies: { imagefleet_admin: owner.token } });
  assert.equal(wrongCookie.statusCode, 403, 'a non-admin key in the cookie');
});
