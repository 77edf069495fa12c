import type { ModelTask } from './model-task.js';
import { unknownOption } from './task.js';

// Amounts are decimal strings ("1234.50"): exact, and bounded in length for constrained decoding.
const AMOUNT = { type: 'string', pattern: '^-?[0-9]{1,9}([.][0-9]{1,2})?$' };
const DATE = { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' };
const TEXT = (max: number) => ({ type: 'string', pattern: `^[A-Za-z0-9][A-Za-z0-9 .,:;&()'/#+-]{0,${max - 1}}$` });

function isCalendarDate(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}

const cents = (value: unknown) => Math.round(Number(value) * 100);

/** Invoice field extraction for overnight OCR batches. */
export const invoiceTask: ModelTask = {
  kind: 'model',
  name: 'invoice',
  version: 1,
  description: 'Vendor, number, dates, currency, amounts and line items of an invoice',
  budget: { maxSide: 1280 },
  validateOptions: (options) => unknownOption('invoice', options, []),
  prompt: () =>
    'Extract the fields of this invoice as JSON only: vendor, invoice number, issue and due dates (YYYY-MM-DD), ' +
    'ISO currency code, subtotal, tax and total as decimal strings, and the line items ' +
    '(description, quantity, unit price, amount). Copy values exactly as printed.',
  schema: () => ({
    type: 'object',
    additionalProperties: false,
    required: ['vendor', 'invoiceNumber', 'issueDate', 'currency', 'total', 'lineItems'],
    properties: {
      vendor: TEXT(80),
      invoiceNumber: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9/._-]{0,31}$' },
      issueDate: DATE,
      dueDate: DATE,
      currency: { type: 'string', pattern: '^[A-Z]{3}$' },
      subtotal: AMOUNT,
      tax: AMOUNT,
      total: AMOUNT,
      lineItems: {
        type: 'array',
        maxItems: 20,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['description', 'amount'],
          properties: {
            description: TEXT(80),
            quantity: { type: 'string', pattern: '^[0-9]{1,6}([.][0-9]{1,3})?$' },
            unitPrice: AMOUNT,
            amount: AMOUNT,
          },
        },
      },
    },
  }),
  maxOutputTokens: () => 1024,
  warnings(output) {
    const invoice = output as { issueDate?: string; dueDate?: string; subtotal?: string; tax?: string; total?: string; lineItems?: { amount: string }[] };
    const warnings: string[] = [];
    if (!isCalendarDate(invoice.issueDate)) warnings.push(`issueDate ${invoice.issueDate} is not a calendar date`);
    if (invoice.dueDate !== undefined && !isCalendarDate(invoice.dueDate)) warnings.push(`dueDate ${invoice.dueDate} is not a calendar date`);
    if (invoice.subtotal !== undefined && invoice.tax !== undefined && cents(invoice.subtotal) + cents(invoice.tax) !== cents(invoice.total)) {
      warnings.push('subtotal + tax differs from total');
    }
    const items = invoice.lineItems ?? [];
    if (invoice.subtotal !== undefined && items.length > 0 && items.reduce((sum, item) => sum + cents(item.amount), 0) !== cents(invoice.subtotal)) {
      warnings.push('line item amounts do not add up to the subtotal');
    }
    return warnings;
  },
  describe: (result) => {
    const output = result.output as { vendor?: string; invoiceNumber?: string; total?: string; currency?: string };
    return `${output.vendor} #${output.invoiceNumber} ${output.total} ${output.currency}${result.warnings.length ? ` (${result.warnings.length} warnings)` : ''}`;
  },
};
