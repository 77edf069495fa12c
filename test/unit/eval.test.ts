import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { inspectDocument, preparePage } from '@imagefleet/imaging';
import {
  LabelsError, collectPredictions, invoiceFields, invoicePages, writeEvalSample, evaluate, foldText, normaliseAmount, normaliseCurrency, normaliseDate, normaliseValue, parseLabels, reportMarkdown, scoresOf,
  type EvalReport, type Label, type Prediction,
} from '@imagefleet/eval';

async function* linesOf(lines: unknown[]): AsyncGenerator<string> {
  for (const line of lines) yield JSON.stringify(line);
}

const byField = (report: EvalReport) => Object.fromEntries(report.fields.map(({ field, ...rest }) => [field, rest]));

test('amounts, dates, currencies and text normalise to one form', () => {
  for (const amount of ['1.234,50', '1,234.50', 1234.5, '$1,234.50', '1 234,50 EUR', '1234.5', 'EUR 1234.50']) assert.equal(normaliseAmount(amount), '123450', String(amount));
  assert.equal(normaliseAmount('1,234'), '123400', 'one separator before three digits groups thousands');
  assert.equal(normaliseAmount('1.234.567'), '123456700');
  assert.equal(normaliseAmount('-3,10'), '-310');
  assert.equal(normaliseAmount('12.3456'), undefined);
  assert.equal(normaliseAmount('n/a'), undefined);
  for (const date of ['2024-03-05', '2024/3/5', '05.03.2024', 'March 5, 2024', '5 March 2024', 'Mar 5 2024', ' march 5, 2024 ']) assert.equal(normaliseDate(date), '2024-03-05', date);
  assert.equal(normaliseDate('31.02.2024'), undefined, 'not a calendar date');
  assert.equal(normaliseDate('03/05/2024'), undefined, 'slashed day/month order is ambiguous');
  assert.equal(normaliseCurrency('€'), 'EUR');
  assert.equal(normaliseCurrency(' usd '), 'USD');
  assert.equal(foldText('  ACME\tOffice   Supply '), 'acme office supply');
  // What cannot be read as its kind compares as folded text; empty is absent.
  assert.equal(normaliseValue('date', 'Q1 2024'), 'q1 2024');
  assert.equal(normaliseValue('amount', '  '), undefined);
  assert.equal(normaliseValue('text', 42), '42');
});

test('scores: P = tp/(tp+fp), R = tp/(tp+fn), F1 their harmonic mean; nothing expected and nothing predicted is perfect', () => {
  assert.deepEqual(scoresOf({ tp: 9, fp: 4, fn: 7 }), { tp: 9, fp: 4, fn: 7, precision: 0.6923, recall: 0.5625, f1: 0.6207 });
  assert.deepEqual(scoresOf({ tp: 0, fp: 0, fn: 3 }), { tp: 0, fp: 0, fn: 3, precision: 0, recall: 0, f1: 0 });
  assert.deepEqual(scoresOf({ tp: 0, fp: 0, fn: 0 }), { tp: 0, fp: 0, fn: 0, precision: 1, recall: 1, f1: 1 });
});

const invoiceLabels: Label[] = [
  {
    key: 'a.png',
    fields: {
      vendor: 'Acme', invoiceNumber: 'A-1', issueDate: '2024-03-05', currency: 'EUR', total: '1234.50',
      lineItems: [{ description: 'Paper', quantity: '2', amount: '10.00' }, { description: 'Toner', quantity: '1', amount: '50.00' }],
    },
  },
  { key: 'b.png', fields: { vendor: 'Beta', invoiceNumber: 'B-2', issueDate: '2024-01-31', currency: 'USD', total: '99.00' } },
];

test('invoice: exact per-field and overall scores on hand-made predictions (normalised values, line items matched, a failed input, extra fields)', () => {
  const predictions = new Map<string, Prediction>([
    [
      'a.png',
      {
        status: 'ok',
        output: {
          vendor: ' ACME ', invoiceNumber: 'A-7', issueDate: '05.03.2024', currency: 'EUR', total: '1.234,50', dueDate: '2024-04-05', foo: 'an extra field',
          // Out of order, one quantity wrong, one item too many.
          lineItems: [{ description: 'toner', quantity: '1', amount: '50' }, { description: 'Paper', quantity: '3', amount: '10.00' }, { description: 'Stapler', amount: '5.00' }],
        },
      },
    ],
    ['b.png', { status: 'failed', code: 'invalid_output' }],
  ]);
  const report = evaluate('invoice', invoiceLabels, predictions, 'b1');
  assert.deepEqual(report.inputs, { labelled: 2, answered: 1, failed: 1, missing: 0 });
  assert.deepEqual(report.fields.map((field) => field.field), ['vendor', 'invoiceNumber', 'issueDate', 'currency', 'total', 'lineItems.description', 'lineItems.quantity', 'lineItems.amount']);
  assert.deepEqual(report.notLabelled, ['dueDate', 'subtotal', 'tax', 'lineItems.unitPrice'], 'no label has them: a predicted dueDate is not scored');
  const fields = byField(report);
  for (const name of ['vendor', 'issueDate', 'currency', 'total']) {
    assert.deepEqual(fields[name], { support: 2, predicted: 1, tp: 1, fp: 0, fn: 1, precision: 1, recall: 0.5, f1: 0.6667 }, name);
  }
  assert.deepEqual(fields.invoiceNumber, { support: 2, predicted: 1, tp: 0, fp: 1, fn: 2, precision: 0, recall: 0, f1: 0 });
  assert.deepEqual(fields['lineItems.description'], { support: 2, predicted: 3, tp: 2, fp: 1, fn: 0, precision: 0.6667, recall: 1, f1: 0.8 });
  assert.deepEqual(fields['lineItems.quantity'], { support: 2, predicted: 2, tp: 1, fp: 1, fn: 1, precision: 0.5, recall: 0.5, f1: 0.5 });
  assert.deepEqual(fields['lineItems.amount'], { support: 2, predicted: 3, tp: 2, fp: 1, fn: 0, precision: 0.6667, recall: 1, f1: 0.8 });
  assert.deepEqual(report.overall, { tp: 9, fp: 4, fn: 7, precision: 0.6923, recall: 0.5625, f1: 0.6207, macroF1: 0.5959 });
  assert.equal(report.worst[0]!.field, 'invoiceNumber');
  assert.deepEqual(report.worst[0]!.examples, [{ key: 'a.png', expected: 'A-1', got: 'A-7' }, { key: 'b.png', expected: 'B-2', got: null }]);
  assert.deepEqual(report.worst.find((worst) => worst.field === 'lineItems.quantity')!.examples, [{ key: 'a.png item 1', expected: '2', got: '3' }]);
});

test('tagging: tags as sets with per-tag counts; an input without a result misses every field', () => {
  const labels: Label[] = [
    { key: 'x.jpg', fields: { category: 'bags', attributes: { colour: 'red' }, tags: ['red', 'handbag'] } },
    { key: 'y.jpg', fields: { category: 'footwear', attributes: { colour: 'blue' }, tags: ['blue', 'sneaker', 'sport'] } },
  ];
  const report = evaluate('tagging', labels, new Map([['x.jpg', { status: 'ok', output: { category: 'Bags', title: 'A bag', attributes: { colour: 'red' }, tags: ['Red', 'bag', 'leather', 'red '] } }]]));
  assert.deepEqual(report.inputs, { labelled: 2, answered: 1, failed: 0, missing: 1 });
  const fields = byField(report);
  assert.deepEqual(fields.category, { support: 2, predicted: 1, tp: 1, fp: 0, fn: 1, precision: 1, recall: 0.5, f1: 0.6667 });
  assert.deepEqual(fields['attributes.colour'], fields.category);
  assert.deepEqual(fields.tags, { support: 2, predicted: 1, tp: 1, fp: 2, fn: 4, precision: 0.3333, recall: 0.2, f1: 0.25 });
  assert.equal(fields.title, undefined, 'no label has a title');
  assert.deepEqual(
    report.tags!.map(({ tag, tp, fp, fn }) => [tag, tp, fp, fn]),
    [['bag', 0, 1, 0], ['blue', 0, 0, 1], ['handbag', 0, 0, 1], ['leather', 0, 1, 0], ['sneaker', 0, 0, 1], ['sport', 0, 0, 1], ['red', 1, 0, 0]],
  );
});

test('empty predictions: every labelled field scores 0, every number stays in [0, 1]', () => {
  const report = evaluate('invoice', invoiceLabels, new Map());
  assert.deepEqual(report.inputs, { labelled: 2, answered: 0, failed: 0, missing: 2 });
  assert.equal(report.fields.length, 8);
  for (const field of report.fields) assert.deepEqual([field.tp, field.fp, field.precision, field.recall, field.f1], [0, 0, 0, 0, 0], field.field);
  assert.deepEqual(report.overall, { tp: 0, fp: 0, fn: 16, precision: 0, recall: 0, f1: 0, macroF1: 0 });
  assert.throws(() => evaluate('caption', invoiceLabels, new Map()), /scores invoice and tagging batches, not caption/);
});

test('labels.jsonl: parsed with coded line errors; results match labels by key or by key without the source prefix', async () => {
  const labels = parseLabels('{"key":"a.png","fields":{"vendor":"Acme"}}\n\n{"key":"sub/b.png","fields":{}}\n');
  assert.deepEqual(labels.map((label) => label.key), ['a.png', 'sub/b.png']);
  assert.throws(() => parseLabels('{"key":"a","fields":{}}\n{oops'), (error: Error) => error instanceof LabelsError && /line 2 is not JSON/.test(error.message));
  assert.throws(() => parseLabels('{"fields":{}}'), /line 1 needs a "key"/);
  assert.throws(() => parseLabels('{"key":"a","fields":[]}'), /line 1 needs "fields"/);
  assert.throws(() => parseLabels('{"key":"a","fields":{}}\n{"key":"a","fields":{}}'), /line 2 repeats the key "a"/);
  assert.throws(() => parseLabels('\n'), /no labels/);
  const predictions = await collectPredictions(labels, linesOf([
    { key: 'shop/2026/a.png', status: 'ok', result: { output: { vendor: 'Acme' } } },
    { key: 'shop/2026/sub/b.png', status: 'failed', error: { code: 'corrupt_image', message: 'x' } },
    { key: 'shop/2026/c.png', status: 'ok', result: { output: {} } },
    { key: 'shop/2026/notes.txt', status: 'skipped', reason: 'not_an_image_name' },
  ]));
  assert.deepEqual([...predictions], [['a.png', { status: 'ok', output: { vendor: 'Acme' } }], ['sub/b.png', { status: 'failed', code: 'corrupt_image' }]]);
});

test('a document is scored by its joined result under its own key; its page lines are never predictions', async () => {
  const labels = parseLabels('{"key":"inv.pdf","fields":{"vendor":"Acme"}}\n{"key":"inv.pdf#page=1","fields":{"vendor":"Acme"}}\n');
  const predictions = await collectPredictions(labels, linesOf([
    { key: 'in/inv.pdf#page=1', status: 'ok', result: { output: { vendor: 'Page one' } } },
    { key: 'in/inv.pdf#page=2', status: 'ok', result: { output: {} } },
    { key: 'in/inv.pdf', status: 'ok', result: { document: { pages: 2, failedPages: [] }, output: { vendor: 'Acme', lineItems: [] }, pages: [] } },
  ]));
  assert.deepEqual([...predictions], [['inv.pdf', { status: 'ok', output: { vendor: 'Acme', lineItems: [] } }]]);
});

test('the generated sample: every second invoice is a two-page PDF of scans, line items across both pages, labelled as one invoice', async () => {
  const out = mkdtempSync(join(tmpdir(), 'imagefleet-eval-sample-'));
  try {
    const [invoices] = await writeEvalSample(out, { count: 4, seed: 3 });
    assert.deepEqual([invoices!.count, invoices!.documents], [4, 2]);
    assert.deepEqual(readdirSync(invoices!.dir).sort(), ['invoice-01.png', 'invoice-02.pdf', 'invoice-03.png', 'invoice-04.pdf']);
    const labels = parseLabels(readFileSync(invoices!.labels, 'utf8'));
    const label = labels.find((entry) => entry.key === 'invoice-02.pdf')!;
    assert.deepEqual(label.fields, invoiceFields(1, 3) as unknown as Label['fields']);
    assert.ok((label.fields.lineItems as unknown[]).length >= 3);
    const pdf = readFileSync(join(invoices!.dir, 'invoice-02.pdf'));
    assert.deepEqual(await inspectDocument(pdf), { format: 'pdf', pages: 2 });
    for (const page of [1, 2]) {
      const rendered = await preparePage(pdf, page, { maxPixels: 40_000_000 }, { maxSide: 1280 });
      assert.equal(rendered.height, 1280, `page ${page} renders at the budget`);
      // A scan of a printed page: mostly white, with dark text.
      const { dominant } = await sharp(rendered.pixels, { raw: { width: rendered.width, height: rendered.height, channels: rendered.channels } }).stats();
      assert.ok(dominant.r > 200 && dominant.g > 200 && dominant.b > 200, JSON.stringify(dominant));
    }
    const [first, second] = invoicePages(invoiceFields(1, 3), 1);
    const items = invoiceFields(1, 3).lineItems;
    assert.ok(first!.includes(items[0]!.description.replace(/&/g, '&amp;')) && second!.includes('Total'));
    assert.ok(!first!.includes('>Total<'), 'totals are on the last page only');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('the Markdown report has the overall line, a row per field, the worst fields with examples', () => {
  const markdown = reportMarkdown(evaluate('invoice', invoiceLabels, new Map([['a.png', { status: 'ok', output: { vendor: 'Acme | Co' } }]]), 'b9'));
  assert.match(markdown, /^# Eval: invoice batch b9$/m);
  assert.match(markdown, /^\*\*Overall\*\* \(micro average over 8 fields\): precision 0\.0%, recall 0\.0%, F1 0\.0%/m);
  assert.match(markdown, /^\| vendor \| 2 \| 1 \| 0 \| 1 \| 2 \| 0\.0% \| 0\.0% \| 0\.0% \|$/m);
  assert.match(markdown, /^\| a\.png \| Acme \| Acme \\\| Co \|$/m, 'pipes in values are escaped');
  assert.match(markdown, /^Not scored \(no label has them\): dueDate, subtotal, tax, lineItems\.unitPrice\.$/m);
});
