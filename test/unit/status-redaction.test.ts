import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactEndpoints } from '@imagefleet/jobs';

test('batch status details quote storage errors without the endpoint', () => {
  assert.equal(redactEndpoints('S3 GET a.jpg failed: Error: connect ECONNREFUSED 127.0.0.1:42473'), 'S3 GET a.jpg failed: Error: connect ECONNREFUSED <endpoint>');
  assert.equal(redactEndpoints('request to http://minio.internal:9000/results/x failed'), 'request to <endpoint> failed');
  assert.equal(redactEndpoints('connect ECONNREFUSED [::1]:9000'), 'connect ECONNREFUSED <endpoint>');
  assert.equal(redactEndpoints('S3 PUT manifest.jsonl failed'), 'S3 PUT manifest.jsonl failed');
});
