import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, settings } from '@imagefleet/core';

test('defaults work with an empty environment', () => {
  const config = loadConfig({});
  assert.equal(config.redisUrl, 'redis://127.0.0.1:6379');
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.port, 8080);
  assert.equal(config.s3Endpoint, undefined);
  assert.equal(config.workerConcurrency, 4);
  assert.equal(config.maxImageBytes, 50 * 1024 * 1024);
  assert.match(config.resultsUrl, /\/data\/results$/);
  assert.deepEqual(config.localSourceRoots, []);
});

test('values are parsed: sizes with units, booleans, lists, s3 urls', () => {
  const config = loadConfig({
    UPLOAD_MAX_BYTES: '2MiB',
    S3_FORCE_PATH_STYLE: 'false',
    LOCAL_SOURCE_ROOTS: '/a, /b/c',
    RESULTS_URL: 's3://my-bucket/out/',
    WORKER_CONCURRENCY: '16',
  });
  assert.equal(config.uploadMaxBytes, 2 * 1024 * 1024);
  assert.equal(config.s3ForcePathStyle, false);
  assert.deepEqual(config.localSourceRoots, ['/a', '/b/c']);
  assert.equal(config.resultsUrl, 's3://my-bucket/out');
  assert.equal(config.workerConcurrency, 16);
});

const bad: [string, string, RegExp][] = [
  ['PORT', 'abc', /PORT must be an integer between 0 and 65535 \(got "abc"\)/],
  ['PORT', '70000', /PORT must be an integer/],
  ['REDIS_URL', 'http://x', /REDIS_URL must be a URL starting with redis: or rediss:/],
  ['WORKER_CONCURRENCY', '0', /WORKER_CONCURRENCY must be an integer between 1 and 1024/],
  ['S3_ENDPOINT', 'localhost:9000', /S3_ENDPOINT must be a URL/],
  ['RESULTS_URL', 's3://', /RESULTS_URL must be s3:\/\/<bucket>/],
  ['RESULTS_URL', 'gs://bucket/x', /RESULTS_URL must be s3:\/\/<bucket>\/<prefix> or a local directory/],
  ['UPLOAD_MAX_BYTES', 'lots', /UPLOAD_MAX_BYTES must be a size in bytes/],
  ['LOG_LEVEL', 'loud', /LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/],
  ['S3_FORCE_PATH_STYLE', 'maybe', /S3_FORCE_PATH_STYLE must be true or false/],
  ['QUEUE_PREFIX', 'a b', /QUEUE_PREFIX must be/],
];
for (const [variable, value, expected] of bad) {
  test(`${variable}=${JSON.stringify(value)} is rejected with a one-line message naming it`, () => {
    assert.throws(
      () => loadConfig({ [variable]: value }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.variable, variable);
        assert.match(error.message, expected);
        assert.ok(!error.message.includes('\n'));
        return true;
      },
    );
  });
}

test('every setting has a variable name, a description and a default that parses', () => {
  for (const spec of Object.values(settings)) {
    assert.match(spec.variable, /^[A-Z][A-Z0-9_]+$/);
    assert.ok(spec.description.length > 10, spec.variable);
    assert.doesNotThrow(() => spec.parse(spec.default, spec.variable), spec.variable);
  }
});
