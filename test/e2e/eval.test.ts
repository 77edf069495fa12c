import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseLabels, type EvalReport } from '@imagefleet/eval';
import { waitForBatchEnd } from '../helpers/producer.js';
import { useModelWorld } from '../helpers/model-world.js';

/**
 * The eval end to end: `imagefleet eval-sample` writes the labelled sample, the fleet runs it with
 * the generated tiny model (its answers are noise), and `imagefleet eval` scores the batch through
 * the API. The scores are meaningless here; the report's structure and counts are what is checked.
 */
const cli = fileURLToPath(new URL('../../../apps/cli/dist/main.js', import.meta.url));
const run = promisify(execFile);
const { world, fleet } = useModelWorld('eval', ['results', 'uploads']);

const inUnitRange = (value: number) => Number.isFinite(value) && value >= 0 && value <= 1;

test('eval-sample -> a batch per task on the tiny model -> imagefleet eval: a JSON and Markdown report with every labelled field', async () => {
  const sample = join(world.dir, 'sample');
  const made = await run(process.execPath, [cli, 'eval-sample', '--out', sample], { encoding: 'utf8' });
  assert.match(made.stdout, /^invoice: 6 inputs \(3 of them two-page PDFs\) in /m);
  const f = await fleet({ LOCAL_SOURCE_ROOTS: sample });
  try {
    f.startWorker();
    const api = await f.producer.app.listen({ host: '127.0.0.1', port: 0 });
    for (const task of ['invoice', 'tagging'] as const) {
      const batchId = await f.submit({ task, source: { local: { path: join(sample, task) } } });
      const status = await waitForBatchEnd(f.producer, batchId, 300_000);
      // The invoices: 3 images and 3 two-page PDFs, whose 6 pages are the batch's inputs.
      assert.deepEqual([status.total, status.documents], task === 'invoice' ? [9, 3] : [6, 0], JSON.stringify(status));
      const labelsPath = join(sample, `${task}-labels.jsonl`);
      const labels = parseLabels(readFileSync(labelsPath, 'utf8'));
      const [out, json] = [join(world.dir, `${task}.md`), join(world.dir, `${task}.json`)];
      await run(process.execPath, [cli, 'eval', batchId, '--labels', labelsPath, '--out', out, '--json', json, '--api', api], { encoding: 'utf8' });
      const report = JSON.parse(readFileSync(json, 'utf8')) as EvalReport;
      assert.equal(report.task, task);
      assert.equal(report.batchId, batchId);
      assert.equal(report.inputs.labelled, 6);
      assert.equal(report.inputs.missing, 0, 'every labelled key has a result line');
      // A labelled input is an image or a whole document (its joined line), never a page.
      const manifest = new Map((await f.manifest(batchId)).map((line) => [line.key.split('/').pop()!, line]));
      const failedLabelled = labels.filter((label) => manifest.get(label.key)?.status === 'failed').length;
      assert.deepEqual([report.inputs.answered + report.inputs.failed, report.inputs.failed], [6, failedLabelled]);
      for (const scores of [...report.fields, report.overall, ...(report.tags ?? [])]) {
        assert.ok([scores.precision, scores.recall, scores.f1].every(inUnitRange), JSON.stringify(scores));
      }
      assert.ok(inUnitRange(report.overall.macroF1));
      assert.equal(report.worst.length, Math.min(5, report.fields.length));
      assert.match(readFileSync(out, 'utf8'), new RegExp(`^# Eval: ${task} batch ${batchId}$`, 'm'));
      const support = Object.fromEntries(report.fields.map((field) => [field.field, field.support]));
      if (task === 'invoice') {
        const twoPage = manifest.get('invoice-02.pdf') as { result?: { document?: { pages: number }; output?: unknown } } | undefined;
        assert.equal(twoPage?.result?.document?.pages, 2, 'the two-page invoice is one document');
        assert.equal(typeof twoPage?.result?.output, 'object', 'scored by its joined invoice');
        const items = labels.reduce((sum, label) => sum + (label.fields.lineItems as unknown[]).length, 0);
        assert.deepEqual(Object.keys(support), ['vendor', 'invoiceNumber', 'issueDate', 'dueDate', 'currency', 'subtotal', 'tax', 'total', 'lineItems.description', 'lineItems.quantity', 'lineItems.unitPrice', 'lineItems.amount']);
        assert.deepEqual(Object.values(support), [...Array(8).fill(6), ...Array(4).fill(items)]);
        // Every expected value is either found or missed.
        assert.equal(report.overall.tp + report.overall.fn, 8 * 6 + 4 * items);
        assert.deepEqual(report.notLabelled, []);
      } else {
        assert.deepEqual(support, { category: 6, 'attributes.colour': 6, tags: 6 });
        assert.deepEqual(report.notLabelled, ['title', 'attributes.material', 'attributes.pattern', 'attributes.style', 'attributes.audience']);
        const labelledTags = labels.reduce((sum, label) => sum + (label.fields.tags as unknown[]).length, 0);
        assert.equal(report.tags!.reduce((sum, tag) => sum + tag.tp + tag.fn, 0), labelledTags);
      }
    }
    // A labels file that is not there: a usage error (exit 2) naming it.
    const missing = await run(process.execPath, [cli, 'eval', 'b1', '--labels', join(world.dir, 'nope.jsonl'), '--api', api]).then(() => undefined, (error: { code: number; stderr: string }) => error);
    assert.equal(missing?.code, 2);
    assert.match(missing?.stderr ?? '', /cannot read --labels .*nope\.jsonl/);
  } finally {
    await f.close();
  }
});
