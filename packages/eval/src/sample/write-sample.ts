import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderSvgJpeg, renderSvgPng } from '@imagefleet/imaging';
import { INVOICE_PAGE, invoiceFields, invoicePages } from './invoices.js';
import { productSample } from './catalog.js';
import { scannedPdf } from './pdf.js';
import type { Label } from '../evaluate.js';

export interface SampleSet {
  task: 'invoice' | 'tagging';
  /** The folder to submit as the batch source. */
  dir: string;
  /** Its labels.jsonl (beside the folder, so it is not listed as an input). */
  labels: string;
  /** Files written, and how many of them are two-page PDFs (documents). */
  count: number;
  documents: number;
}

export interface SampleOptions {
  /** Inputs per task (default 6: two invoices per layout, one of them two pages; each product shape once). */
  count?: number;
  seed?: number;
}

const pad = (index: number) => String(index + 1).padStart(2, '0');

interface SampleItem {
  name: string;
  /** One SVG: a PNG image; several: a PDF of scanned pages. */
  pages: string[];
  fields: Label['fields'];
}

async function fileOf(item: SampleItem): Promise<Buffer> {
  if (item.pages.length === 1) return renderSvgPng(item.pages[0]!);
  return scannedPdf(await Promise.all(item.pages.map(async (svg) => ({ jpeg: await renderSvgJpeg(svg), ...INVOICE_PAGE }))));
}

async function writeSet(out: string, task: SampleSet['task'], items: SampleItem[]): Promise<SampleSet> {
  const dir = join(out, task);
  await mkdir(dir, { recursive: true });
  await Promise.all(items.map(async (item) => writeFile(join(dir, item.name), await fileOf(item))));
  const labels = join(out, `${task}-labels.jsonl`);
  await writeFile(labels, items.map((item) => `${JSON.stringify({ key: item.name, fields: item.fields })}\n`).join(''));
  return { task, dir, labels, count: items.length, documents: items.filter((item) => item.pages.length > 1).length };
}

/**
 * A small labelled sample the eval can run on: invoices rendered from known field values in three
 * layouts (US, European and ISO number and date formats; the labels stay canonical), every second
 * one a two-page PDF of scans (line items continue on page 2, totals on page 2; its label is the
 * whole invoice, which the fleet's joined document result answers), and product photos of known
 * category, colour and tags. Deterministic for a seed. Writes `<out>/invoice/*.{png,pdf}` +
 * `<out>/invoice-labels.jsonl` and `<out>/tagging/*.png` + `<out>/tagging-labels.jsonl`.
 */
export async function writeEvalSample(out: string, options: SampleOptions = {}): Promise<SampleSet[]> {
  const count = options.count ?? 6;
  const seed = options.seed ?? 1;
  const invoices = Array.from({ length: count }, (_, index) => {
    const fields = invoiceFields(index, seed);
    const pages = invoicePages(fields, index);
    return { name: `invoice-${pad(index)}.${pages.length > 1 ? 'pdf' : 'png'}`, pages, fields: fields as unknown as Label['fields'] };
  });
  const products = Array.from({ length: count }, (_, index) => {
    const { fields, svg } = productSample(index, seed);
    return { name: `product-${pad(index)}.png`, pages: [svg], fields: fields as unknown as Label['fields'] };
  });
  return [await writeSet(out, 'invoice', invoices), await writeSet(out, 'tagging', products)];
}
