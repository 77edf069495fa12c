import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResultLine } from '@imagefleet/core';
import { makeTinyModel, type TinyModelFiles } from '@imagefleet/engine';
import { resultLayout, StoreRegistry } from '@imagefleet/storage';
import { compileSchema, invoiceTask, type ModelTaskResult } from '@imagefleet/tasks';
import type { PageLine } from '@imagefleet/worker';
import { ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { waitForBatchEnd } from '../helpers/producer.js';
import { cleanUpFleetTests, startTestFleet } from '../helpers/test-fleet.js';
import { llamaServerBinary } from '../helpers/llama-server.js';
import { syntheticPhoto } from '../helpers/images.js';
import { brokenPdf, invoicePdf, makePdf, multiPageImage } from '../helpers/documents.js';

/**
 * Documents through the whole fleet: producer, a worker child process running llama-server on the
 * generated tiny model (answers are noise, valid against the schema), s3rver and Redis. One batch
 * holds a 3-page PDF invoice, a 3-page TIFF scan, a one-page PDF, a photo, and one document per
 * failure code.
 */
let services: TestServices;
let stores: StoreRegistry;
let dir: string;
let tiny: TinyModelFiles;
let serverBinary: string;
const prefixes: string[] = [];

const GREY: [number, number, number][] = [
  [250, 250, 250],
  [200, 200, 200],
  [150, 150, 150],
];

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads', 'docs'].map((bucket) => ensureBucket(services, bucket)));
  stores = new StoreRegistry(services.s3);
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-documents-'));
  tiny = await makeTinyModel(join(dir, 'tiny'), { seed: 1 });
  serverBinary = await llamaServerBinary();
  const docs = stores.open('s3://docs');
  const files: Record<string, Buffer> = {
    'in/invoice.pdf': invoicePdf(),
    'in/scan.tif': await multiPageImage('tiff', GREY, 600, 800),
    'in/receipt.pdf': makePdf([['Receipt 77', 'Total 9.99']]),
    'in/photo.jpg': await syntheticPhoto(7, 400, 300),
    'in/locked.pdf': makePdf([['secret']], { encrypted: true }),
    'in/broken.pdf': brokenPdf(),
    'in/blank.pdf': makePdf([]),
    'in/flipbook.gif': await multiPageImage('gif', [...GREY, [100, 100, 100], [50, 50, 50]]),
    'in/notes.txt': Buffer.from('not an input'),
  };
  await Promise.all(Object.entries(files).map(([key, bytes]) => docs.put(key, bytes)));
});

after(() => cleanUpFleetTests({ services, stores, prefixes, dir }));

type DocumentLine = ResultLine & { result: { document: { pages: number; failedPages: number[] }; output?: Record<string, unknown>; pages: PageLine[] } };

test('a 3-page PDF invoice and a 3-page TIFF: one job per page, each document joined; bad documents fail with their codes', async () => {
  const f = await startTestFleet(services, stores, prefixes, { ENGINE: 'server', MODEL_PATH: tiny.model, MMPROJ_PATH: tiny.mmproj, ENGINE_THREADS: '1', ENGINE_SLOTS: '2', LLAMA_SERVER_BIN: serverBinary, MAX_PAGES: '4' });
  try {
    f.startWorker();
    const batchId = await f.submit({ task: 'invoice', source: { s3: { bucket: 'docs', prefix: 'in/' } } });
    const status = await waitForBatchEnd(f.producer, batchId, 300_000);
    // Inputs: 1 photo + 7 pages (3 + 3 + 1) + 4 documents that failed whole; notes.txt skipped.
    assert.deepEqual(
      { state: status.state, total: status.total, completed: status.completed, failed: status.failed, documents: status.documents, pages: status.pages, skipped: status.skipped },
      { state: 'completed_with_errors', total: 12, completed: 8, failed: 4, documents: 3, pages: 7, skipped: 1 },
    );
    const lines = await f.manifest(batchId);
    const byKey = new Map(lines.map((line) => [line.key, line]));
    assert.equal(lines.length, 15, lines.map((line) => line.key).join(', '));
    assert.deepEqual(
      ['in/locked.pdf', 'in/broken.pdf', 'in/blank.pdf', 'in/flipbook.gif'].map((key) => byKey.get(key)?.error?.code),
      ['encrypted_document', 'corrupt_document', 'empty_document', 'too_many_pages'],
    );
    assert.ok(![...byKey.keys()].some((key) => key.startsWith('in/flipbook.gif#')), 'a document over MAX_PAGES gets no page job');

    const validate = compileSchema(invoiceTask.schema({}));
    for (const [key, pages] of [['in/invoice.pdf', 3], ['in/scan.tif', 3], ['in/receipt.pdf', 1]] as const) {
      const document = byKey.get(key) as DocumentLine;
      assert.equal(document.status, 'ok', JSON.stringify(document.error));
      assert.deepEqual(document.result.document, { pages, failedPages: [] });
      const pageKeys = Array.from({ length: pages }, (_, index) => `${key}#page=${index + 1}`);
      assert.deepEqual(document.result.pages.map((line) => line.key), pageKeys, 'pages in order');
      const pageResults = pageKeys.map((pageKey) => byKey.get(pageKey)!);
      for (const line of pageResults) {
        assert.equal(line.status, 'ok', JSON.stringify(line.error));
        assert.ok(validate((line.result as ModelTaskResult).output), line.key);
      }
      // The join, structurally: every page's line items in page order, the first header, the last total.
      const outputs = pageResults.map((line) => (line.result as ModelTaskResult).output);
      const joined = document.result.output!;
      assert.deepEqual(joined.lineItems, outputs.flatMap((output) => output.lineItems as unknown[]));
      assert.equal(joined.vendor, outputs.find((output) => output.vendor !== undefined)?.vendor);
      assert.equal(joined.total, outputs.findLast((output) => output.total !== undefined)?.total);
      // The document's own result object is the manifest's line.
      const stored = JSON.parse((await stores.open(f.config.resultsUrl).get(resultLayout.resultKey(batchId, key), { maxBytes: 1 << 20 })).toString('utf8')) as ResultLine;
      assert.deepEqual(stored, document);
    }
    assert.equal(byKey.get('in/photo.jpg')?.status, 'ok');
  } finally {
    await f.close();
  }
});
