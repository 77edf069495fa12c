import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderSvgPng } from '@imagefleet/imaging';
import { invoiceFields, invoiceSvg } from './invoices.js';
import { productSample } from './catalog.js';
import type { Label } from '../evaluate.js';

export interface SampleSet {
  task: 'invoice' | 'tagging';
  /** The folder to submit as the batch source. */
  dir: string;
  /** Its labels.jsonl (beside the folder, so it is not listed as an input). */
  labels: string;
  count: number;
}

export interface SampleOptions {
  /** Images per task (default 6: two invoices per layout, each product shape once). */
  count?: number;
  seed?: number;
}

const pad = (index: number) => String(index + 1).padStart(2, '0');

async function writeSet(out: string, task: SampleSet['task'], items: { name: string; svg: string; fields: Label['fields'] }[]): Promise<SampleSet> {
  const dir = join(out, task);
  await mkdir(dir, { recursive: true });
  await Promise.all(items.map(async (item) => writeFile(join(dir, item.name), await renderSvgPng(item.svg))));
  const labels = join(out, `${task}-labels.jsonl`);
  await writeFile(labels, items.map((item) => `${JSON.stringify({ key: item.name, fields: item.fields })}\n`).join(''));
  return { task, dir, labels, count: items.length };
}

/**
 * A small labelled sample the eval can run on: one-page invoices rendered from known field values
 * in three layouts (US, European and ISO number and date formats; the labels stay canonical), and
 * product photos of known category, colour and tags. Deterministic for a seed. Writes
 * `<out>/invoice/*.png` + `<out>/invoice-labels.jsonl` and `<out>/tagging/*.png` + `<out>/tagging-labels.jsonl`.
 */
export async function writeEvalSample(out: string, options: SampleOptions = {}): Promise<SampleSet[]> {
  const count = options.count ?? 6;
  const seed = options.seed ?? 1;
  const invoices = Array.from({ length: count }, (_, index) => {
    const fields = invoiceFields(index, seed);
    return { name: `invoice-${pad(index)}.png`, svg: invoiceSvg(fields, index), fields: fields as unknown as Label['fields'] };
  });
  const products = Array.from({ length: count }, (_, index) => {
    const { fields, svg } = productSample(index, seed);
    return { name: `product-${pad(index)}.png`, svg, fields: fields as unknown as Label['fields'] };
  });
  return [await writeSet(out, 'invoice', invoices), await writeSet(out, 'tagging', products)];
}
