import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { BatchStatus, Config } from '@imagefleet/core';
import { allBatchesKey, tenantBatchesKey } from '@imagefleet/jobs';
import { startProducerWithServices, type ProducerWithServices, type TestProducer } from '../helpers/producer.js';
import { apiKey } from '../helpers/http.js';

let fixture: ProducerWithServices;
let config: Config;
let producer: TestProducer;

before(async () => {
  // No reconciler pass after the start: the batches the tests make keep the states they are given.
  fixture = await startProducerWithServices(['results', 'photos'], { AUTH: 'on', ALLOWED_SOURCE_BUCKETS: 'photos', RECONCILE_INTERVAL_MS: '3600000' });
  ({ config, producer } = fixture);
});
after(async () => {
  await fixture?.stop();
});

interface Page {
  batches: BatchStatus[];
  next: string | null;
}

async function list(auth: { authorization: string }, query: string): Promise<Page> {
  const response = await producer.app.inject({ url: `/v1/batches${query}`, headers: auth });
  assert.equal(response.statusCode, 200, response.body);
  return response.json<Page>();
}

/** A batch of this tenant made straight in the registry, created at `createdAtMs`. */
async function createBatch(tenant: string, id: string, createdAtMs = Date.now()): Promise<string> {
  const created = await producer.deps.batches.create({ id, task: 'inspect', source: { keys: ['a.jpg'], bucket: 'photos' }, sourceStore: 's3://photos', resultsUrl: 's3://results', tenant }, new Date(createdAtMs));
  assert.equal(created, true);
  return id;
}

test('paging goes newest first with no duplicates or gaps while new batches are created', async () => {
  const pager = await apiKey(producer, ['read'], 'pager');
  const base = Date.now() - 60_000;
  // Three batches per millisecond: ties on creation time are ordered by id.
  const existing = await Promise.all(Array.from({ length: 25 }, (_, i) => createBatch(pager.id, `page_${String(i).padStart(2, '0')}`, base + Math.floor(i / 3))));
  const expected = [...existing].sort((a, b) => Math.floor(Number(b.slice(5)) / 3) - Math.floor(Number(a.slice(5)) / 3) || (a < b ? 1 : -1));
  const seen: string[] = [];
  let page = await list(pager.auth, '?limit=4');
  seen.push(...page.batches.map((batch) => batch.id));
  let created = 0;
  while (page.next !== null) {
    await createBatch(pager.id, `page_new_${created++}`);
    page = await list(pager.auth, `?limit=4&cursor=${encodeURIComponent(page.next)}`);
    seen.push(...page.batches.map((batch) => batch.id));
  }
  assert.deepEqual(seen, expected);
  const fresh = await list(pager.auth, '?limit=500');
  assert.equal(fresh.next, null);
  assert.ok(created >= 6);
  assert.equal(fresh.batches.length, 25 + created, 'the 25 and one new batch per page after the first');
  assert.match(fresh.batches[0]!.id, /^page_new_/, 'the newest batch comes first');
  assert.deepEqual(Object.keys(fresh.batches[0]!).sort(), Object.keys(await (await producer.app.inject({ url: `/v1/batches/${fresh.batches[0]!.id}`, headers: pager.auth })).json()).sort(), 'each item is the batch status');
});

test('the state filter takes repeated and comma-separated states', async () => {
  const reader = await apiKey(producer, ['read'], 'states');
  const listing = await createBatch(reader.id, 'state_listing', Date.now() - 3);
  const running = await createBatch(reader.id, 'state_running', Date.now() - 2);
  const cancelled = await createBatch(reader.id, 'state_cancelled', Date.now() - 1);
  await producer.deps.batches.finishListing(running);
  assert.equal(await producer.deps.batches.cancel(cancelled), 'cancelled');
  const ids = async (query: string) => (await list(reader.auth, query)).batches.map((batch) => [batch.id, batch.state]);
  assert.deepEqual(await ids('?state=running'), [[running, 'running']]);
  assert.deepEqual(await ids('?state=running,cancelled'), [[cancelled, 'cancelled'], [running, 'running']]);
  assert.deepEqual(await ids('?state=listing&state=cancelled'), [[cancelled, 'cancelled'], [listing, 'listing']]);
  assert.deepEqual(await ids('?state=completed'), []);
});

test('tenants list only their own batches; admin lists every batch', async () => {
  const alice = await apiKey(producer, ['submit', 'read'], 'alice');
  const bob = await apiKey(producer, ['submit', 'read'], 'bob');
  const admin = await apiKey(producer, ['admin'], 'admin');
  const post = async (auth: { authorization: string }) => {
    const response = await producer.app.inject({ method: 'POST', url: '/v1/batches', headers: auth, payload: { task: 'inspect', source: { keys: ['t.jpg'], bucket: 'photos' } } });
    assert.equal(response.statusCode, 202, response.body);
    return response.json<{ batchId: string }>().batchId;
  };
  const aliceBatch = await post(alice.auth);
  const aliceSecond = await post({ ...alice.auth });
  assert.equal(aliceSecond, aliceBatch, 'an idempotent re-post adds no second entry');
  const bobBatch = await post(bob.auth);
  assert.deepEqual((await list(alice.auth, '')).batches.map((batch) => batch.id), [aliceBatch]);
  assert.deepEqual((await list(bob.auth, '')).batches.map((batch) => batch.id), [bobBatch]);
  const alicePage = await list(alice.auth, '?limit=1');
  assert.notEqual(alicePage.next, null);
  const bobWithAliceCursor = await list(bob.auth, `?cursor=${encodeURIComponent(alicePage.next!)}`);
  assert.deepEqual(bobWithAliceCursor.batches, [], "another tenant's cursor only moves within one's own batches (bob's is newer)");
  const everything = (await list(admin.auth, '?limit=500')).batches.map((batch) => batch.id);
  assert.ok(everything.includes(aliceBatch) && everything.includes(bobBatch), 'admin sees both tenants');
  assert.ok(everything.includes('state_running'), 'and batches made by other keys');
});

test('batches whose records expired are dropped from the indexes when read', async () => {
  const reader = await apiKey(producer, ['read'], 'expiry');
  const kept = await createBatch(reader.id, 'expiry_kept', Date.now() - 2);
  const expired = await createBatch(reader.id, 'expiry_gone', Date.now() - 1);
  const batchKey = `${config.queuePrefix}:batch:${expired}`;
  await producer.deps.redis.pexpire(batchKey, 1);
  const deadline = Date.now() + 5_000;
  while ((await producer.deps.redis.exists(batchKey)) === 1) {
    assert.ok(Date.now() < deadline, 'the batch hash expires');
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(await producer.deps.redis.zscore(tenantBatchesKey(config.queuePrefix, reader.id), expired) !== null, true, 'still indexed before a read');
  assert.deepEqual((await list(reader.auth, '')).batches.map((batch) => batch.id), [kept]);
  assert.equal(await producer.deps.redis.zscore(tenantBatchesKey(config.queuePrefix, reader.id), expired), null);
  assert.equal(await producer.deps.redis.zscore(allBatchesKey(config.queuePrefix), expired), null);
  assert.notEqual(await producer.deps.redis.zscore(allBatchesKey(config.queuePrefix), kept), null);
});

test('a bad state, limit or cursor, or an unknown parameter, is a 400 naming it', async () => {
  const reader = await apiKey(producer, ['read'], 'bad-query');
  const garbage = Buffer.from('12.not a batch id!').toString('base64url');
  for (const [query, field] of [
    ['?limit=0', 'limit'],
    ['?limit=501', 'limit'],
    ['?limit=ten', 'limit'],
    ['?limit=1e2', 'limit'],
    ['?state=bogus', 'state'],
    ['?state=running,bogus', 'state'],
    ['?cursor=%21%21', 'cursor'],
    [`?cursor=${garbage}`, 'cursor'],
    ['?sort=asc', 'sort'],
  ] as const) {
    const response = await producer.app.inject({ url: `/v1/batches${query}`, headers: reader.auth });
    assert.equal(response.statusCode, 400, query);
    assert.equal(response.json().error, 'bad_request', query);
    assert.match(response.json().message, new RegExp(field), query);
  }
  const writer = await apiKey(producer, ['submit'], 'no-read');
  assert.equal((await producer.app.inject({ url: '/v1/batches', headers: writer.auth })).statusCode, 403, 'listing needs the read scope');
});

test('imagefleet batches prints a table from a real producer', async () => {
  const reader = await apiKey(producer, ['read'], 'cli');
  const listing = await createBatch(reader.id, 'cli_old', Date.now() - 2);
  const cancelled = await createBatch(reader.id, 'cli_cancelled', Date.now() - 1);
  const newest = await createBatch(reader.id, 'cli_new');
  assert.equal(await producer.deps.batches.cancel(cancelled), 'cancelled');
  assert.equal(await producer.deps.batches.cancel(newest), 'cancelled');
  const address = await producer.app.listen({ host: '127.0.0.1', port: 0 });
  const cli = fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url));
  const run = (...args: string[]) => promisify(execFile)(process.execPath, [cli, 'batches', '--api', address, '--api-key', reader.token, ...args], { encoding: 'utf8' });
  const table = (await run('--limit', '2')).stdout.trimEnd().split('\n');
  assert.equal(table.length, 3);
  assert.match(table[0]!, /^ID +TASK +STATE +DONE\/TOTAL +CREATED$/);
  assert.match(table[1]!, new RegExp(`^${newest} +inspect +cancelled +0/0 +\\d{4}-`));
  assert.match(table[2]!, new RegExp(`^${cancelled} +inspect +cancelled +0/0 `));
  const filtered = (await run('--state', 'listing')).stdout.trimEnd().split('\n');
  assert.equal(filtered.length, 2);
  assert.match(filtered[1]!, new RegExp(`^${listing} +inspect +listing `));
  await assert.rejects(run('--limit', '0'), (error: { code?: number; stderr?: string }) => error.code === 2 && /--limit must be an integer from 1 to 500/.test(error.stderr ?? ''));
  await assert.rejects(run('--state', 'nope'), (error: { code?: number; stderr?: string }) => error.code === 1 && /answered 400: state "nope" is not a batch state/.test(error.stderr ?? ''));
});
