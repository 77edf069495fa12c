import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchIdOfJob, canonicalJson, deriveBatchId, deriveJobId } from '@imagefleet/core';

test('the same request names the same batch, whatever the key order', () => {
  const a = deriveBatchId({ task: 'inspect', source: { s3: { bucket: 'b', prefix: 'p/' } }, options: { x: 1, y: 2 } });
  const b = deriveBatchId({ task: 'inspect', source: { s3: { prefix: 'p/', bucket: 'b' } }, options: { y: 2, x: 1 } });
  assert.equal(a, b);
  assert.notEqual(a, deriveBatchId({ task: 'inspect', source: { s3: { bucket: 'b', prefix: 'q/' } } }));
  assert.match(a, /^[A-Za-z0-9_]{1,64}$/);
});

test('job ids are stable per batch + key, contain no colon, and name their batch', () => {
  const id = deriveJobId('b123', 'photos/a.jpg');
  assert.equal(id, deriveJobId('b123', 'photos/a.jpg'));
  assert.notEqual(id, deriveJobId('b123', 'photos/b.jpg'));
  assert.notEqual(id, deriveJobId('b124', 'photos/a.jpg'));
  assert.ok(!id.includes(':'));
  assert.equal(batchIdOfJob(id), 'b123');
  assert.equal(canonicalJson({ b: [1, { d: 1, c: 2 }], a: undefined }), '{"b":[1,{"c":2,"d":1}]}');
});
