import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImagefleetError, splitPageKey, type ResultLine } from '@imagefleet/core';
import { inputJobSpec } from '@imagefleet/jobs';
import { inspectDocument, preparePage, prepareImage } from '@imagefleet/imaging';
import { joinDocument, joinInvoice, pageJobSpecs, type PageLine } from '@imagefleet/worker';
import { brokenPdf, invoicePdf, makePdf, multiPageImage } from '../helpers/documents.js';
import { syntheticPhoto } from '../helpers/images.js';

const LIMITS = { maxPixels: 100_000_000 };
const COLOURS: [number, number, number][] = [
  [220, 20, 20],
  [20, 220, 20],
  [20, 20, 220],
];

async function codeOf(work: Promise<unknown>): Promise<string> {
  const error = await work.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  assert.ok(error instanceof ImagefleetError, `expected a coded error, got ${String(error)}`);
  return error.code;
}

test('a PDF is a document with its page count; TIFF, GIF and WebP are documents only with several pages', async () => {
  assert.deepEqual(await inspectDocument(invoicePdf()), { format: 'pdf', pages: 3 });
  assert.deepEqual(await inspectDocument(makePdf([['one page']])), { format: 'pdf', pages: 1 });
  for (const format of ['tiff', 'gif', 'webp'] as const) {
    assert.deepEqual(await inspectDocument(await multiPageImage(format, COLOURS)), { format, pages: 3 }, format);
    assert.equal(await inspectDocument(await multiPageImage(format, COLOURS.slice(0, 1))), undefined, `single-page ${format}`);
  }
  assert.equal(await inspectDocument(await syntheticPhoto(1)), undefined);
  assert.equal(await inspectDocument(Buffer.from('plain text')), undefined);
});

test('encrypted, broken and empty PDFs fail with their own codes', async () => {
  assert.equal(await codeOf(inspectDocument(makePdf([['secret']], { encrypted: true }))), 'encrypted_document');
  assert.equal(await codeOf(inspectDocument(brokenPdf())), 'corrupt_document');
  assert.equal(await codeOf(inspectDocument(makePdf([]))), 'empty_document');
});

test('a PDF page is rendered at the task budget: its longer side is the budget, text is drawn, no alpha', async () => {
  const page = await preparePage(invoicePdf(), 1, LIMITS, { maxSide: 1280 });
  assert.deepEqual([page.width, page.height, page.channels, page.source.format], [989, 1280, 3, 'pdf']);
  let dark = 0;
  for (let i = 0; i < page.pixels.length; i += 3) if (page.pixels[i]! < 128) dark++;
  assert.ok(dark > 500, `text drawn on page 1 (${dark} dark pixels)`);
  const small = await preparePage(invoicePdf(), 3, LIMITS, { maxSide: 512 });
  assert.equal(Math.max(small.width, small.height), 512);
  assert.equal(await codeOf(preparePage(invoicePdf(), 4, LIMITS, { maxSide: 512 })), 'corrupt_document');
});

test('a page of a TIFF, GIF or WebP is that page: its own colour', async () => {
  for (const format of ['tiff', 'gif', 'webp'] as const) {
    const bytes = await multiPageImage(format, COLOURS);
    for (const [index, colour] of COLOURS.entries()) {
      const page = await preparePage(bytes, index + 1, LIMITS, { maxSide: 768 });
      const pixel = [...page.pixels.subarray(0, 3)];
      assert.ok(pixel.every((value, channel) => Math.abs(value - colour[channel]!) < 24), `${format} page ${index + 1}: ${pixel.join(',')}`);
    }
  }
  // A plain image is still prepared as before, from its first page.
  const first = await prepareImage(await multiPageImage('tiff', COLOURS), LIMITS, { maxSide: 768 });
  assert.ok(first.pixels[0]! > 200 && first.pixels[1]! < 40);
});

test('page jobs: one per page, ids from batch + <key>#page=<n>, the page in their data', () => {
  const specs = pageJobSpecs({ batchId: 'b1', task: 'invoice', source: { store: 's3://in', key: 'a/inv.pdf' }, results: 's3://out' }, 3);
  assert.deepEqual(specs.map((spec) => spec.data.page), [1, 2, 3]);
  assert.equal(new Set(specs.map((spec) => spec.jobId)).size, 3);
  assert.ok(specs.every((spec) => spec.jobId.startsWith('b1-') && spec.data.source.key === 'a/inv.pdf'));
  assert.deepEqual(pageJobSpecs({ batchId: 'b1', task: 'invoice', source: { store: 's3://in', key: 'a/inv.pdf' }, results: 's3://out' }, 3), specs);
  // A retry rebuilds a failed page's job from its result key: the same job as the split made.
  const batch = { id: 'b1', task: 'invoice', sourceStore: 's3://in', resultsUrl: 's3://out' };
  assert.deepEqual(inputJobSpec(batch, 'a/inv.pdf#page=2'), specs[1]);
  assert.deepEqual(inputJobSpec(batch, 'a/inv.pdf').data, { batchId: 'b1', task: 'invoice', source: { store: 's3://in', key: 'a/inv.pdf' }, results: 's3://out' });
  assert.deepEqual([splitPageKey('a/x#page=1.pdf'), splitPageKey('a/x.pdf#page=12')], [{ key: 'a/x#page=1.pdf' }, { key: 'a/x.pdf', page: 12 }]);
});

const okPage = (page: number, output: Record<string, unknown>): PageLine => ({ page, key: `inv.pdf#page=${page}`, status: 'ok', result: { output, warnings: [] } });

test('an invoice joins its pages: header from the first page that has it, totals from the last, line items in page order', () => {
  const item = (description: string, amount: string) => ({ description, amount });
  const joined = joinInvoice([
    { vendor: 'ACME', invoiceNumber: 'INV-1', issueDate: '2026-11-02', total: '1.00', lineItems: [item('a', '1.00')] },
    { vendor: 'Other', currency: 'EUR', subtotal: '9.00', lineItems: [item('b', '2.00'), item('c', '3.00')] },
    { total: '312.00', tax: '52.00', lineItems: [item('d', '4.00')] },
  ]);
  assert.deepEqual(joined, {
    vendor: 'ACME',
    invoiceNumber: 'INV-1',
    issueDate: '2026-11-02',
    currency: 'EUR',
    subtotal: '9.00',
    tax: '52.00',
    total: '312.00',
    lineItems: [item('a', '1.00'), item('b', '2.00'), item('c', '3.00'), item('d', '4.00')],
  });
});

test('a document result: its pages in order; failed pages make it page_failed and are named', () => {
  const pages = [okPage(1, { vendor: 'ACME', total: '5.00', lineItems: [] }), okPage(2, { total: '7.00', lineItems: [] })];
  const ok = joinDocument('invoice', 'inv.pdf', pages);
  assert.equal(ok.status, 'ok');
  const result = ok.result as { document: { pages: number; failedPages: number[] }; output: Record<string, unknown>; pages: PageLine[] };
  assert.deepEqual(result.document, { pages: 2, failedPages: [] });
  assert.deepEqual([result.output.vendor, result.output.total], ['ACME', '7.00']);
  assert.deepEqual(result.pages.map((line) => line.page), [1, 2]);
  const failedPage: PageLine = { page: 2, key: 'doc.tif#page=2', status: 'failed', error: { code: 'corrupt_image', message: 'x' } };
  const failed: ResultLine = joinDocument('caption', 'doc.tif', [okPage(1, { caption: 'a' }), failedPage]);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error?.code, 'page_failed');
  assert.deepEqual(failed.error?.pages, [2]);
  assert.equal((failed.result as { output?: unknown }).output, undefined, 'only invoice has a joined output');
});
