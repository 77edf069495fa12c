import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { canonicalJson, deriveBatchId, isModelId } from '@imagefleet/core';
import { modelQueueName, servedModelIds, toBatchStatus, type BatchRecord, type WorkerHeartbeat } from '@imagefleet/jobs';
import { MemoryJobQueues } from '@imagefleet/jobs/testing';

const record = (fields: Partial<BatchRecord>): BatchRecord => ({
  id: 'b1', task: 'caption', source: { keys: ['a.jpg'], bucket: 'p' }, sourceStore: 's3://p', resultsUrl: 's3://r', state: 'running', total: 3, completed: 1, failed: 0,
  skipped: 0, skippedReasons: {}, cursor: undefined, createdAt: new Date().toISOString(), finishedAt: null, listerActive: false, pendingResults: 0, priority: 1, retries: 0, cached: 0, documents: 0, pages: 0, ...fields,
});

test('model ids: the MODEL_ID pattern, and one queue per id with no ":" in its name', () => {
  assert.deepEqual(['qwen3-vl-2b-q8_0-1a2b3c', 'llava:7b', 'a.b_c'].map(isModelId), [true, true, true]);
  assert.deepEqual(['', 'a b', 'a/b', 'x'.repeat(101)].map(isModelId), [false, false, false, false]);
  const names = ['a:b', 'a+b', 'a-b', 'a_b', 'a.b'].map(modelQueueName);
  assert.equal(names[0], 'vlm-a+b');
  assert.ok(names.every((name) => !name.includes(':')));
  // '+' is not a model id character: 'a:b' and the invalid 'a+b' are the only ids that could share a name.
  assert.equal(isModelId('a+b'), false);
  assert.equal(new Set(names.slice(2).concat(names[0]!)).size, 4);
});

test('a batch without a model keeps the id it had before routing; a model makes another batch', () => {
  const request = { task: 'caption', source: { s3: { bucket: 'b', prefix: 'p/' } }, options: {} };
  assert.equal(deriveBatchId(request), `b${createHash('sha256').update(canonicalJson(request)).digest('hex').slice(0, 24)}`);
  assert.notEqual(deriveBatchId({ ...request, model: 'm-1' }), deriveBatchId(request));
  assert.notEqual(deriveBatchId({ ...request, model: 'm-1' }), deriveBatchId({ ...request, model: 'm-2' }));
});

test('waits for a worker: only a batch naming a model no live engine serves, with inputs left', () => {
  const named = record({ model: 'm-1' });
  assert.equal(toBatchStatus(named).waitingFor, null, 'served models unknown: no claim');
  assert.equal(toBatchStatus(named, Date.now(), ['m-1']).waitingFor, null);
  const waiting = toBatchStatus(named, Date.now(), ['m-2', 'm-3']);
  assert.equal(waiting.waitingFor, 'worker');
  assert.match(waiting.detail ?? '', /no live worker serves model m-1 \(the fleet serves m-2, m-3\)/);
  assert.equal(toBatchStatus(record({ model: 'm-1', state: 'listing', listerActive: true }), Date.now(), []).waitingFor, 'worker');
  assert.equal(toBatchStatus(record({}), Date.now(), []).waitingFor, null, 'no model: any worker');
  assert.equal(toBatchStatus(record({ model: 'm-1', completed: 3 }), Date.now(), []).waitingFor, 'finalizing');
  assert.equal(toBatchStatus(record({ model: 'm-1', state: 'cancelled' }), Date.now(), []).waitingFor, null);
  const heartbeat = (modelId: string, engine: string): WorkerHeartbeat => ({ workerId: `h:${modelId}`, modelId, engine, device: 'cpu', slots: 1, imagesPerSecond: 0, jobsInFlight: 0, lastSeen: '' });
  assert.deepEqual(servedModelIds([heartbeat('z', 'server'), heartbeat('none', 'none'), heartbeat('a', 'llama'), heartbeat('z', 'server')]), ['a', 'z']);
});

test('MemoryJobQueues keeps routes: a job is found and removed through its own queue only', async () => {
  const queues = new MemoryJobQueues();
  const spec = (jobId: string) => ({ jobId, name: 'caption', data: { batchId: 'b1', task: 'caption', source: { store: 's3://p', key: jobId }, results: 's3://r' } });
  await queues.enqueueImages({ kind: 'model', model: 'm-1' }, { batchId: 'b1' }, [spec('b1-1'), spec('b1-2')]);
  assert.equal(await queues.imageJob('b1-1', { kind: 'model' }), undefined);
  assert.equal((await queues.imageJob('b1-1', { kind: 'model', model: 'm-1' }))?.state, 'waiting');
  assert.deepEqual((await queues.counts()).map((entry) => [entry.queue, entry.model, entry.counts.wait]), [['memory', undefined, 0], ['vlm-m-1', 'm-1', 2]]);
  assert.equal(await queues.removeImageJobs({ kind: 'model' }, ['b1-1', 'b1-2']), 0);
  assert.equal(await queues.removeBatchJobs({ kind: 'model', model: 'm-1' }, 'b1'), 2);
});
