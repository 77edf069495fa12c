import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { ImagefleetError } from '@imagefleet/core';
import { S3BlobStore, StoreRegistry, createS3Client } from '@imagefleet/storage';
import { ensureBucket, startServices, type TestServices } from '../helpers/services.js';

let services: TestServices;
let registry: StoreRegistry;

before(async () => {
  services = await startServices();
  await ensureBucket(services, 'store-test');
  registry = new StoreRegistry(services.s3);
});
after(async () => {
  registry?.close();
  await services?.stop();
});

test('put, get (with byte limit), head and not-found on a real S3 server', async () => {
  const store = registry.open('s3://store-test/run1');
  const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
  await store.put('a/photo.jpg', bytes);
  assert.deepEqual(await store.get('a/photo.jpg', { maxBytes: 3000 }), bytes);
  assert.deepEqual(await store.head('a/photo.jpg'), { key: 'a/photo.jpg', size: 3000 });
  assert.equal(await store.head('a/none.jpg'), undefined);
  await assert.rejects(store.get('a/photo.jpg', { maxBytes: 2999 }), (error: ImagefleetError) => error.code === 'too_large' && /3000 bytes/.test(error.message));
  await assert.rejects(store.get('a/none.jpg', { maxBytes: 10 }), (error: ImagefleetError) => error.code === 'not_found' && error.permanent);
  await store.ping();
  await assert.rejects(registry.open('s3://no-such-bucket-here').ping(), (error: ImagefleetError) => error instanceof ImagefleetError);
});

test('streamed upload stores exactly the bytes (no aws-chunked framing)', async () => {
  const store = registry.open('s3://store-test/run1');
  const lines = Array.from({ length: 2000 }, (_, i) => `{"key":"k${i}","status":"ok"}\n`);
  await store.putStream('manifest.jsonl', Readable.from(lines));
  assert.equal((await store.get('manifest.jsonl', { maxBytes: 1e6 })).toString(), lines.join(''));
  const streamed: Buffer[] = [];
  for await (const chunk of await store.getStream('manifest.jsonl')) streamed.push(chunk as Buffer);
  assert.equal(Buffer.concat(streamed).toString(), lines.join(''));
});

test('listing pages through a prefix in key order, and resumes after a key', async () => {
  const store = new S3BlobStore(createS3Client(services.s3), 'store-test', 'listing', true);
  const keys = Array.from({ length: 25 }, (_, i) => `p/${String(i).padStart(3, '0')}.jpg`);
  await Promise.all(keys.map((key) => store.put(key, 'x')));
  await store.put('q/other.jpg', 'x');
  const pages: string[][] = [];
  for await (const page of store.list('p/', { pageSize: 10 })) pages.push(page.map((info) => info.key));
  assert.deepEqual(pages.map((page) => page.length), [10, 10, 5]);
  assert.deepEqual(pages.flat(), keys);
  const resumed: string[] = [];
  for await (const page of store.list('p/', { pageSize: 10, startAfter: 'p/019.jpg' })) resumed.push(...page.map((info) => info.key));
  assert.deepEqual(resumed, keys.slice(20));
  store.close();
});
