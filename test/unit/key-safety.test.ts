import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ImagefleetError } from '@imagefleet/core';
import { LocalBlobStore, safeKeyPath } from '@imagefleet/storage';

const root = '/srv/store';

test('ordinary keys map under the root', () => {
  assert.equal(safeKeyPath(root, 'a.jpg'), '/srv/store/a.jpg');
  assert.equal(safeKeyPath(root, 'shop/2026/a b.jpg'), '/srv/store/shop/2026/a b.jpg');
  assert.equal(safeKeyPath(root, 'x/..a/b..'), '/srv/store/x/..a/b..');
});

const escapes = ['', '../etc/passwd', 'a/../../b', '/etc/passwd', 'a/./b', 'a//b', 'a\\..\\b', 'a\0b', 'a/\n/b', '..', '.', 'a/'];
for (const key of escapes) {
  test(`key ${JSON.stringify(key)} is rejected`, () => {
    assert.throws(() => safeKeyPath(root, key), (error: unknown) => error instanceof ImagefleetError && error.code === 'invalid_job' && /Invalid object key/.test(error.message));
  });
}

test('local store: get with a byte limit, put is atomic, list pages in key order, resume after a key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imagefleet-local-'));
  try {
    const store = new LocalBlobStore(dir);
    await store.put('b/2.jpg', Buffer.alloc(10, 1));
    await store.put('a.jpg', Buffer.alloc(5, 2));
    await store.put('b/1.jpg', 'text');
    await store.putStream('c/manifest.jsonl', Readable.from(['{"a":1}\n', '{"a":2}\n']));
    mkdirSync(join(dir, 'b', 'sub'));
    writeFileSync(join(dir, 'b', 'sub', 'x.png'), 'x');
    assert.deepEqual(readdirSync(join(dir, 'b')).filter((name) => name.startsWith('.imagefleet-tmp')), []);

    assert.equal((await store.get('b/2.jpg', { maxBytes: 10 })).length, 10);
    await assert.rejects(store.get('b/2.jpg', { maxBytes: 9 }), (error: ImagefleetError) => error.code === 'too_large' && /10 bytes, over the limit of 9/.test(error.message));
    await assert.rejects(store.get('missing.jpg', { maxBytes: 9 }), (error: ImagefleetError) => error.code === 'not_found');
    assert.equal(await store.head('missing.jpg'), undefined);
    assert.deepEqual(await store.head('a.jpg'), { key: 'a.jpg', size: 5 });

    const pages: string[][] = [];
    for await (const page of store.list('', { pageSize: 2 })) pages.push(page.map((info) => info.key));
    assert.deepEqual(pages, [['a.jpg', 'b/1.jpg'], ['b/2.jpg', 'b/sub/x.png'], ['c/manifest.jsonl']]);

    const prefixed: string[] = [];
    for await (const page of store.list('b/', { startAfter: 'b/1.jpg' })) prefixed.push(...page.map((info) => info.key));
    assert.deepEqual(prefixed, ['b/2.jpg', 'b/sub/x.png']);

    const partial: string[] = [];
    for await (const page of store.list('b/s')) partial.push(...page.map((info) => info.key));
    assert.deepEqual(partial, ['b/sub/x.png']);
    assert.equal((await store.get('c/manifest.jsonl', { maxBytes: 100 })).toString(), '{"a":1}\n{"a":2}\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
