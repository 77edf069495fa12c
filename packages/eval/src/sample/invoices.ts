import { seededRandom } from '@imagefleet/core';
import { escapeXml } from './svg.js';

export interface InvoiceItem {
  description: string;
  quantity: string;
  unitPrice: string;
  amount: string;
}

/** An invoice's fields as the label gives them: dates YYYY-MM-DD, amounts "1234.50". */
export interface InvoiceFields {
  vendor: string;
  invoiceNumber: string;
  issueDate: string;
  dueDate: string;
  currency: string;
  subtotal: string;
  tax: string;
  total: string;
  lineItems: InvoiceItem[];
}

/** How a layout prints dates and amounts: the label stays canonical, the page does not. */
interface Layout {
  name: 'classic' | 'european' | 'compact';
  currency: string;
  date(iso: string): string;
  amount(decimal: string): string;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function groupThousands(decimal: string, group: string, point: string): string {
  const [whole, fraction] = decimal.split('.');
  return `${whole!.replace(/\B(?=(\d{3})+$)/g, group)}${point}${fraction}`;
}

export const LAYOUTS: Layout[] = [
  {
    name: 'classic',
    currency: 'USD',
    date: (iso) => `${MONTHS[Number(iso.slice(5, 7)) - 1]} ${Number(iso.slice(8))}, ${iso.slice(0, 4)}`,
    amount: (decimal) => `$${groupThousands(decimal, ',', '.')}`,
  },
  {
    name: 'european',
    currency: 'EUR',
    date: (iso) => `${iso.slice(8)}.${iso.slice(5, 7)}.${iso.slice(0, 4)}`,
    amount: (decimal) => `${groupThousands(decimal, '.', ',')} EUR`,
  },
  { name: 'compact', currency: 'GBP', date: (iso) => iso, amount: (decimal) => decimal },
];

const VENDORS = ['Northwind Traders', 'Acme Office Supply', 'Blue Harbor Logistics', 'Kestrel & Sons', 'Lumen Print Co', 'Orchard Foods GmbH'];
const PRODUCTS = ['Printer paper A4', 'Toner cartridge', 'Desk lamp', 'Shipping boxes', 'USB-C cable', 'Office chair', 'Coffee beans 1kg', 'Whiteboard markers', 'Monitor stand', 'Labels roll'];

const cents = (amount: number) => (amount / 100).toFixed(2);

/** Every second invoice (the 2nd, 4th, …) is a two-page PDF: so each layout has one of each kind in six. */
export const isTwoPageInvoice = (index: number): boolean => index % 2 === 1;

/** Field values of invoice `index`, from the seed: 1-5 line items (3-6 on a two-page one), tax at 20% (rounded to the cent). */
export function invoiceFields(index: number, seed: number): InvoiceFields {
  const random = seededRandom(seed * 1000 + index);
  const layout = LAYOUTS[index % LAYOUTS.length]!;
  const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)]!;
  const items = isTwoPageInvoice(index) ? 3 + Math.floor(random() * 4) : 1 + Math.floor(random() * 5);
  const lineItems = Array.from({ length: items }, () => {
    const quantity = 1 + Math.floor(random() * 12);
    const unit = 100 + Math.floor(random() * 40_000);
    return { description: pick(PRODUCTS), quantity: String(quantity), unitPrice: cents(unit), amount: cents(unit * quantity) };
  });
  const subtotal = lineItems.reduce((sum, item) => sum + Math.round(Number(item.amount) * 100), 0);
  const tax = Math.round(subtotal * 0.2);
  const issued = new Date(Date.UTC(2024, Math.floor(random() * 12), 1 + Math.floor(random() * 28)));
  const due = new Date(issued.getTime() + 30 * 86_400_000);
  return {
    vendor: VENDORS[index % VENDORS.length]!,
    invoiceNumber: `INV-${2024}-${String(100 + Math.floor(random() * 900))}${index}`,
    issueDate: issued.toISOString().slice(0, 10),
    dueDate: due.toISOString().slice(0, 10),
    currency: layout.currency,
    subtotal: cents(subtotal),
    tax: cents(tax),
    total: cents(subtotal + tax),
    lineItems,
  };
}

const WIDTH = 900;
const HEIGHT = 1200;
/** Every invoice page's size in pixels. */
export const INVOICE_PAGE = { width: WIDTH, height: HEIGHT } as const;

function text(x: number, y: number, value: string, options: { size?: number; weight?: string; anchor?: string } = {}): string {
  return `<text x="${x}" y="${y}" font-family="DejaVu Sans, Liberation Sans, sans-serif" font-size="${options.size ?? 20}" font-weight="${options.weight ?? 'normal'}" text-anchor="${options.anchor ?? 'start'}" fill="#111">${escapeXml(value)}</text>`;
}

const svgPage = (parts: string[]) => `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}"><rect width="100%" height="100%" fill="#fff"/>${parts.join('')}</svg>`;

/** Vendor and title, left or right per layout. */
function drawTitle(parts: string[], layout: Layout, fields: InvoiceFields, title: string): void {
  const right = layout.name === 'european';
  const [x, anchor] = right ? [WIDTH - 60, 'end'] : [60, 'start'];
  parts.push(text(x, 90, fields.vendor, { size: 34, weight: 'bold', anchor }), text(x, 130, title, { size: 24, anchor }));
}

/** The line items table from `top`; returns the y below its last row. */
function drawItems(parts: string[], layout: Layout, items: InvoiceItem[], top: number): number {
  // Description left-aligned; quantity, unit price and amount right-aligned at these x.
  const columns = [60, 470, 660, WIDTH - 60];
  parts.push(`<line x1="60" y1="${top + 12}" x2="${WIDTH - 60}" y2="${top + 12}" stroke="#111" stroke-width="2"/>`);
  ['Description', 'Qty', 'Unit price', 'Amount'].forEach((header, column) => parts.push(text(columns[column]!, top, header, { weight: 'bold', anchor: column === 0 ? 'start' : 'end' })));
  items.forEach((item, row) => {
    const y = top + 50 + row * 36;
    parts.push(text(columns[0]!, y, item.description), text(columns[1]!, y, item.quantity, { anchor: 'end' }), text(columns[2]!, y, layout.amount(item.unitPrice), { anchor: 'end' }), text(columns[3]!, y, layout.amount(item.amount), { anchor: 'end' }));
  });
  return top + 50 + items.length * 36;
}

function drawTotals(parts: string[], layout: Layout, fields: InvoiceFields, top: number): void {
  const totals: [string, string][] = [
    ['Subtotal', fields.subtotal],
    [layout.name === 'european' ? 'MwSt. 20%' : 'Tax 20%', fields.tax],
    ['Total', fields.total],
  ];
  totals.forEach(([label, value], row) => {
    const y = top + 40 + row * 36;
    const weight = label === 'Total' ? 'bold' : 'normal';
    parts.push(text(500, y, label, { weight }), text(WIDTH - 60, y, layout.amount(value), { weight, anchor: 'end' }));
  });
}

/**
 * Invoice `index` as SVG pages in its layout (header placement, labels and number formats differ
 * per layout). A two-page invoice has its header and the first half of its line items on page 1,
 * the rest and the totals on page 2 (under a short continuation header); the others, one page.
 */
export function invoicePages(fields: InvoiceFields, index: number): string[] {
  const layout = LAYOUTS[index % LAYOUTS.length]!;
  const first: string[] = [];
  drawTitle(first, layout, fields, layout.name === 'european' ? 'Rechnung / Invoice' : layout.name === 'compact' ? 'TAX INVOICE' : 'INVOICE');
  const meta: [string, string][] = [
    [layout.name === 'european' ? 'Rechnungsnr.' : 'Invoice no.', fields.invoiceNumber],
    [layout.name === 'european' ? 'Datum' : 'Issue date', layout.date(fields.issueDate)],
    [layout.name === 'european' ? 'Fällig' : 'Due date', layout.date(fields.dueDate)],
    ['Currency', fields.currency],
  ];
  meta.forEach(([label, value], row) => {
    const y = 200 + row * 34;
    first.push(text(60, y, `${label}:`, { weight: 'bold' }), text(280, y, value));
  });
  const tableTop = layout.name === 'compact' ? 380 : 420;
  if (!isTwoPageInvoice(index)) {
    drawTotals(first, layout, fields, drawItems(first, layout, fields.lineItems, tableTop));
    return [svgPage(first)];
  }
  const split = Math.ceil(fields.lineItems.length / 2);
  const below = drawItems(first, layout, fields.lineItems.slice(0, split), tableTop);
  first.push(text(WIDTH - 60, below + 40, layout.name === 'european' ? 'Fortsetzung auf Seite 2' : 'Continued on page 2', { anchor: 'end' }));
  const second: string[] = [];
  drawTitle(second, layout, fields, `${layout.name === 'european' ? 'Seite 2' : 'Page 2'}: ${fields.invoiceNumber}`);
  drawTotals(second, layout, fields, drawItems(second, layout, fields.lineItems.slice(split), 220));
  return [svgPage(first), svgPage(second)];
}
