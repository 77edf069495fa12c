import { deriveJobId, createLogger } from '@imagefleet/core';
import { startProducer } from '@imagefleet/producer';
import { deleteRedisPrefix, ensureBucket, startServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer } from '../helpers/producer.js';
import { apiKey, multipart, slowLoris } from '../helpers/http.js';
import { syntheticPhoto } from '../helpers/images.js';
import { freePort } from '../helpers/processes.js';
import { row, type SecurityRow } from './row.js';

/** Hostile inputs of the keys, tenancy and http areas: every one is sent, one row each. */
export async function runSecurityCases(): Promise<SecurityRow[]> {
  const services = await startServices();
  await Promise.all(['results', 'uploads', 'photos', 'private'].map((bucket) => ensureBucket(services, bucket)));
  const guardedEnv = testEnv(services, { AUTH: 'on', ALLOWED_SOURCE_BUCKETS: 'photos,uploads' });
  const producer = await startTestProducer(testConfig(guardedEnv));
  const port = await freePort();
  const hardenedEnv = testEnv(services, { PORT: String(port), RATE_LIMIT_MAX: '3', HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '3000' });
  const listening = await startProducer(testConfig(hardenedEnv), createLogger('security', 'silent'));
  const rows: SecurityRow[] = [];
  try {
    const inject = async (method: 'GET' | 'POST' | 'DELETE', url: string, headers: Record<string, string> = {}, payload?: object) => {
      const response = await producer.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
      const body = response.json() as { error?: string };
      return `${response.statusCode}${body.error ? ` ${body.error}` : ''}`;
    };
    const reader = await apiKey(producer, ['read']);
    const alice = await apiKey(producer, ['submit', 'read']);
    const bob = await apiKey(producer, ['submit', 'read']);
    const admin = await apiKey(producer, ['admin']);
    const revoked = await apiKey(producer, ['read']);
    await producer.deps.apiKeys.revoke(revoked.id);
    const source = { task: 'inspect', source: { keys: ['s.jpg'], bucket: 'photos' } };

    rows.push(row('keys', 'GET /v1/batches/x without a key', '401 unauthorized', await inject('GET', '/v1/batches/bx')));
    rows.push(row('keys', 'Bearer <malformed token>', '401 unauthorized', await inject('GET', '/v1/batches/bx', { authorization: 'Bearer ifk_nope' })));
    rows.push(row('keys', 'Bearer <real id, forged secret>', '401 unauthorized', await inject('GET', '/v1/batches/bx', { authorization: `Bearer ${reader.token.slice(0, -6)}AAAAAA` })));
    rows.push(row('keys', 'Bearer <revoked key>', '401 unauthorized', await inject('GET', '/v1/batches/bx', revoked.auth)));
    rows.push(row('keys', 'read key POSTs a batch', '403 forbidden', await inject('POST', '/v1/batches', reader.auth, source)));
    rows.push(row('keys', 'GET /metrics without a key', '401 unauthorized', await inject('GET', '/metrics')));
    rows.push(row('keys', 'GET /metrics with a read key', '403 forbidden', await inject('GET', '/metrics', reader.auth)));
    rows.push(row('keys', 'GET /healthz without a key', '200', await inject('GET', '/healthz')));

    const aliceBatch = (await producer.app.inject({ method: 'POST', url: '/v1/batches', headers: alice.auth, payload: source })).json().batchId as string;
    rows.push(row('tenancy', "another tenant GETs a batch", '404 not_found', await inject('GET', `/v1/batches/${aliceBatch}`, bob.auth)));
    rows.push(row('tenancy', "another tenant GETs its results", '404 not_found', await inject('GET', `/v1/batches/${aliceBatch}/results`, bob.auth)));
    rows.push(row('tenancy', "another tenant DELETEs it", '404 not_found', await inject('DELETE', `/v1/batches/${aliceBatch}`, bob.auth)));
    rows.push(row('tenancy', "another tenant GETs one of its jobs", '404 not_found', await inject('GET', `/v1/jobs/${deriveJobId(aliceBatch, 's.jpg')}`, bob.auth)));
    const bobBatch = (await producer.app.inject({ method: 'POST', url: '/v1/batches', headers: bob.auth, payload: source })).json().batchId as string;
    rows.push(row('tenancy', 'the same request by another tenant', 'another batch id', bobBatch !== aliceBatch ? 'another batch id' : 'the same batch id'));
    rows.push(row('tenancy', 'claim the batchId of another tenant', '409 conflict', await inject('POST', '/v1/batches', bob.auth, { ...source, batchId: aliceBatch })));
    rows.push(row('tenancy', 'the same request again', '202', await inject('POST', '/v1/batches', alice.auth, source)));
    rows.push(row('tenancy', 'admin GETs any batch', '200', await inject('GET', `/v1/batches/${aliceBatch}`, admin.auth)));
    rows.push(row('tenancy', 'a bucket outside ALLOWED_SOURCE_BUCKETS', '400 bad_request', await inject('POST', '/v1/batches', alice.auth, { task: 'inspect', source: { s3: { bucket: 'private', prefix: 'hr/' } } })));
    rows.push(row('tenancy', 'the uploads bucket as a source', '400 bad_request', await inject('POST', '/v1/batches', alice.auth, { task: 'inspect', source: { s3: { bucket: 'uploads', prefix: '' } } })));
    const upload = multipart([{ name: 'task', content: 'inspect' }, { name: 'file', filename: 'a.jpg', content: await syntheticPhoto(1, 64, 48) }]);
    const uploaded = (await producer.app.inject({ method: 'POST', url: '/v1/images', headers: { ...upload.headers, ...alice.auth }, payload: upload.payload })).json() as { jobId: string };
    rows.push(row('tenancy', "another tenant GETs an upload's job", '404 not_found', await inject('GET', `/v1/jobs/${uploaded.jobId}`, bob.auth)));

    const api = listening.url;
    const headers = (await fetch(`${api}/healthz`)).headers;
    rows.push(row('http', 'security headers (nosniff, CSP, HSTS)', 'present', headers.get('x-content-type-options') === 'nosniff' && headers.get('content-security-policy') && headers.get('strict-transport-security') ? 'present' : 'missing'));
    const crossOrigin = await fetch(`${api}/v1/images`, { method: 'POST', headers: { ...upload.headers, origin: 'https://evil.example' }, body: upload.payload });
    rows.push(row('http', 'cross-origin multipart upload, CORS off', '403', String(crossOrigin.status)));
    const twoFiles = multipart([{ name: 'task', content: 'inspect' }, { name: 'file', filename: 'a.jpg', content: 'x' }, { name: 'file', filename: 'b.jpg', content: 'y' }]);
    rows.push(row('http', 'an upload with two files', '413', String((await fetch(`${api}/v1/images`, { method: 'POST', headers: twoFiles.headers, body: twoFiles.payload })).status)));
    const { hostname } = new URL(api);
    const held = await slowLoris(hostname, port, { giveUpMs: 10_000 }).catch(() => Infinity);
    rows.push(row('http', 'slow-loris headers (1 byte / 200 ms)', 'closed within 4 s', held < 4000 ? 'closed within 4 s' : `held ${held} ms`));
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${api}/v1/batches/bx`)).status);
    const limited = await fetch(`${api}/v1/batches/bx`);
    rows.push(row('http', '6 requests over RATE_LIMIT_MAX=3', '429 with Retry-After', limited.status === 429 && Number(limited.headers.get('retry-after')) > 0 ? '429 with Retry-After' : `${statuses.join(',')},${limited.status}`));
  } finally {
    await listening.stop();
    await producer.close();
    await deleteRedisPrefix(services.redisUrl, guardedEnv.QUEUE_PREFIX!);
    await deleteRedisPrefix(services.redisUrl, hardenedEnv.QUEUE_PREFIX!);
    await services.stop();
  }
  return rows;
}
