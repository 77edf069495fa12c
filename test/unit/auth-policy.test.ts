import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, allowedSourceBuckets, deriveBatchId, loadConfig } from '@imagefleet/core';
import { isLoopbackHost, localAuthDefault } from '@imagefleet/cli';
import { parseScopes } from '@imagefleet/jobs';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SourceError, checkRealLocalSource, checkSourceAllowed } from '@imagefleet/producer';

test('up and demo: auth off only on a loopback HOST with no key; AUTH in the environment wins', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', undefined]) assert.equal(localAuthDefault({ HOST: host }, 0).auth, 'off', String(host));
  assert.match(localAuthDefault({}, 0).reason ?? '', /^AUTH is off: HOST is loopback and no API key exists/);
  for (const host of ['0.0.0.0', '::', '192.168.1.4', 'api.example.com', '127.0.0.1.nip.io']) assert.equal(localAuthDefault({ HOST: host }, 0).auth, 'on', host);
  assert.equal(localAuthDefault({}, 1).auth, 'on', 'a key exists');
  assert.equal(localAuthDefault({ AUTH: 'on' }, 0).auth, 'on');
  assert.equal(isLoopbackHost('0x7f000001'), false, 'only literal loopback addresses count');
});

test('scopes parse or name the unknown one', () => {
  assert.deepEqual(parseScopes('submit, read,submit'), ['submit', 'read']);
  assert.throws(() => parseScopes('submit,root'), /got "root"/);
  assert.throws(() => parseScopes(''), /scope must be/);
});

test('batch ids are derived per tenant; without a tenant they are what they were', () => {
  const request = { task: 'inspect', source: { s3: { bucket: 'b', prefix: 'p/' } } };
  assert.notEqual(deriveBatchId({ ...request, tenant: 'aaaa' }), deriveBatchId({ ...request, tenant: 'bbbb' }));
  assert.equal(deriveBatchId({ ...request, tenant: undefined }), deriveBatchId(request));
});

test('new settings are checked at start with one line naming the variable', () => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ AUTH: 'maybe' }, /^Invalid configuration: AUTH must be true or false/],
    [{ ALLOWED_SOURCE_BUCKETS: 'photos,Bad_Bucket' }, /^Invalid configuration: ALLOWED_SOURCE_BUCKETS must be a comma-separated list of bucket names/],
    [{ CORS_ORIGINS: 'https://app.example.com/path' }, /^Invalid configuration: CORS_ORIGINS must be a comma-separated list of origins/],
    [{ RATE_LIMIT_MAX: '0' }, /^Invalid configuration: RATE_LIMIT_MAX/],
    [{ HTTP_HEADERS_TIMEOUT_MS: '60000', HTTP_REQUEST_TIMEOUT_MS: '30000' }, /^Invalid configuration: HTTP_HEADERS_TIMEOUT_MS must be at most HTTP_REQUEST_TIMEOUT_MS/],
  ];
  for (const [env, message] of bad) assert.throws(() => loadConfig(env), (error: Error) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
  const config = loadConfig({});
  assert.equal(config.auth, true, 'auth is on by default');
  assert.deepEqual(config.corsOrigins, []);
});

test('ALLOWED_SOURCE_BUCKETS defaults to the buckets of RESULTS_URL and UPLOADS_URL', () => {
  assert.deepEqual(allowedSourceBuckets(loadConfig({ RESULTS_URL: 's3://data/results', UPLOADS_URL: 's3://inbox/uploads' })), ['data', 'inbox']);
  assert.deepEqual(allowedSourceBuckets(loadConfig({})), [], 'local results and uploads: no bucket at all');
  assert.deepEqual(allowedSourceBuckets(loadConfig({ ALLOWED_SOURCE_BUCKETS: 'a,*' })), ['*']);
});

test('local sources: never the uploads or results directory, nor a directory containing them', () => {
  const config = loadConfig({ RESULTS_URL: '/srv/if/data/results', UPLOADS_URL: '/srv/if/data/uploads' });
  for (const path of ['/srv/if/data/uploads', '/srv/if/data/uploads/u1', '/srv/if/data/results/b1', '/srv/if', '/']) {
    assert.throws(() => checkSourceAllowed({ local: { path } }, config), SourceError, path);
  }
  for (const path of ['/srv/if/photos', '/srv/if/data/uploads-old']) assert.doesNotThrow(() => checkSourceAllowed({ local: { path } }, config), path);
});

test('local sources: the rule holds on real paths (uploads configured through a link, a source that is its real parent)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imagefleet-policy-'));
  try {
    mkdirSync(join(dir, 'data', 'uploads'), { recursive: true });
    mkdirSync(join(dir, 'photos'));
    symlinkSync(join(dir, 'data'), join(dir, 'link'));
    const config = loadConfig({ UPLOADS_URL: join(dir, 'link', 'uploads'), RESULTS_URL: join(dir, 'results') });
    // As written, data/ neither is nor contains link/uploads: only the real paths tell.
    assert.doesNotThrow(() => checkSourceAllowed({ local: { path: join(dir, 'data') } }, config));
    await assert.rejects(checkRealLocalSource(join(dir, 'data'), config), SourceError);
    await assert.rejects(checkRealLocalSource(join(dir, 'data', 'uploads'), config), SourceError);
    await checkRealLocalSource(join(dir, 'photos'), config);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
