import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { BatchSummary, ResultLine } from '@imagefleet/core';
import { resultLayout } from '@imagefleet/storage';
import type { PageLine } from '@imagefleet/worker';
import { waitForBatchEnd } from '../helpers/producer.js';
import { useModelWorld } from '../helpers/model-world.js';
import { syntheticPhoto, truncated } from '../helpers/images.js';
import { SKIMAGE_MULTIPAGE_RGB } from '../helpers/documents.js';

/**
 * The batch summary (summary.json beside the manifest, GET /v1/batches/:id/summary) through the
 * whole fleet: a producer, a worker process running the tiny model, Redis and s3rver. The second
 * batch holds a cache hit, a real two-page TIFF of 64-bit float samples (scikit-image's
 * multipage_rgb.tif, which libvips alone cannot read), a broken image and a skipped file.
 */
const { world, fleet } = useModelWorld('summary', ['results', 'uploads', 'docs'], async ({ stores }) => {
  const docs = stores.open('s3://docs');
  const photo = await syntheticPhoto(41, 320, 240);
  await docs.put('warm/photo.jpg', photo);
  await docs.put('in/photo.jpg', photo);
  await docs.put('in/multipage_rgb.tif', readFileSync(SKIMAGE_MULTIPAGE_RGB));
  await docs.put('in/broken.jpg', truncated(photo).subarray(0, 200));
  await docs.put('in/notes.txt', 'not an input');
});

type DocumentLine = ResultLine & { result: { document: { pages: number; failedPages: number[] }; pages: PageLine[] } };

test('summary.json and GET /v1/batches/:id/summary: exact counts with a document, a cache hit and a failure', async () => {
  const f = await fleet();
  const summaryOf = (batchId: string) => f.producer.app.inject({ url: `/v1/batches/${batchId}/summary` });
  try {
    // Before any worker runs, the first batch cannot finish: it has no summary yet.
    const warmId = await f.submit({ task: 'tagging', source: { s3: { bucket: 'docs', prefix: 'warm/' } } });
    const early = await summaryOf(warmId);
    assert.deepEqual([early.statusCode, early.json().error], [409, 'conflict'], early.body);
    assert.equal((await summaryOf('no_such_batch')).statusCode, 404);

    f.startWorker();
    assert.equal((await waitForBatchEnd(f.producer, warmId, 180_000)).state, 'completed');
    const batchId = await f.submit({ task: 'tagging', source: { s3: { bucket: 'docs', prefix: 'in/' } } });
    const status = await waitForBatchEnd(f.producer, batchId, 180_000);

    const expected: BatchSummary = {
      batchId,
      task: 'tagging',
      state: 'completed_with_errors',
      // Inputs: the photo, the TIFF's 2 pages and the broken image; notes.txt skipped.
      total: 4,
      completed: 3,
      failed: 1,
      skipped: 1,
      documents: 1,
      pages: 2,
      cached: 1,
      cacheHitRate: 0.25,
      failures: { corrupt_image: 1 },
      skippedReasons: { not_an_image_name: 1 },
      createdAt: status.createdAt,
      finishedAt: status.finishedAt!,
    };
    const response = await summaryOf(batchId);
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(response.json(), expected);
    const stored = await world.stores.open(f.config.resultsUrl).get(resultLayout.summaryKey(batchId), { maxBytes: 1e6 });
    assert.deepEqual(JSON.parse(stored.toString('utf8')), expected, 'the API serves the object written beside the manifest');

    // The TIFF went through as a document: both pages analysed, joined under its key.
    const lines = new Map((await f.manifest(batchId)).map((line) => [line.key, line]));
    const tiff = lines.get('in/multipage_rgb.tif') as DocumentLine;
    assert.equal(tiff.status, 'ok', JSON.stringify(tiff));
    assert.deepEqual(tiff.result.document, { pages: 2, failedPages: [] });
    assert.deepEqual(tiff.result.pages.map((page) => [page.page, page.status]), [[1, 'ok'], [2, 'ok']]);
    assert.equal(lines.get('in/photo.jpg')?.cached, true);
    assert.equal(lines.get('in/broken.jpg')?.error?.code, 'corrupt_image');
    assert.equal(resultLayout.isResultKey(resultLayout.summaryKey(batchId)), false, 'a listing of result objects (an unfinished batch) never takes the summary for one');
  } finally {
    await f.close();
  }
});
