/**
 * Values as compared by the eval: two printed forms of the same value normalise to the same
 * string. What cannot be read as its kind falls back to folded text, so equal text still matches.
 */

export type ValueKind = 'text' | 'amount' | 'number' | 'date' | 'currency';

/** Unicode-compatible form, lower case, runs of whitespace as one space, trimmed. */
export function foldText(value: string): string {
  return value.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/**
 * A decimal amount in any common print: "1.234,50", "1,234.50", "1 234,50", "1234.5", "€ 12",
 * "-3,10", or a JSON number. The last separator followed by 1-2 digits is the decimal one;
 * a single separator followed by exactly 3 digits ("1,234", "1.234") groups thousands.
 * Returns the value in hundredths as a string ("123450"), or undefined.
 */
export function normaliseAmount(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? String(Math.round(value * 100)) : undefined;
  if (typeof value !== 'string') return undefined;
  const negative = /^\s*(-|\()|-\s*$/.test(value.replace(/[^\d.,\s()-]/g, ''));
  const digits = value.replace(/[^\d.,]/g, '');
  if (!/\d/.test(digits)) return undefined;
  const lastSeparator = Math.max(digits.lastIndexOf('.'), digits.lastIndexOf(','));
  const separators = (digits.match(/[.,]/g) ?? []).length;
  const decimals = lastSeparator >= 0 ? digits.length - lastSeparator - 1 : 0;
  const decimal = lastSeparator >= 0 && decimals >= 1 && decimals <= 2 ? lastSeparator : -1;
  const grouped = decimal < 0 && !(separators === 1 && decimals !== 3);
  if (decimal < 0 && !grouped && lastSeparator >= 0) return undefined;
  const whole = (decimal >= 0 ? digits.slice(0, decimal) : digits).replace(/[.,]/g, '');
  const fraction = decimal >= 0 ? digits.slice(decimal + 1) : '';
  const cents = BigInt(whole || '0') * 100n + BigInt(fraction.padEnd(2, '0') || '0');
  return `${negative && cents > 0n ? '-' : ''}${cents}`;
}

/** A plain number ("2", "2.0", "1,5"): as a canonical decimal string, or undefined. */
export function normaliseNumber(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (typeof value !== 'string' || !/^\s*-?\d+([.,]\d+)?\s*$/.test(value)) return undefined;
  return String(Number(value.trim().replace(',', '.')));
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

function isoDate(year: number, month: number, day: number): string | undefined {
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return date.toISOString().slice(0, 10);
}

function monthOf(name: string): number {
  return MONTHS.indexOf(name.slice(0, 3).toLowerCase()) + 1;
}

/**
 * A calendar date as YYYY-MM-DD from "2024-03-05", "2024/03/05", "05.03.2024" (day first, as
 * printed in Europe), "March 5, 2024", "5 March 2024", "Mar 5 2024". Slashed day/month orders
 * ("03/05/2024") are ambiguous and are not read as dates.
 */
export function normaliseDate(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  let match = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$/.exec(text);
  if (match) return isoDate(Number(match[1]), Number(match[2]), Number(match[3]));
  match = /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/.exec(text);
  if (match) return isoDate(Number(match[3]), Number(match[2]), Number(match[1]));
  match = /^([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{4})$/.exec(text);
  if (match && monthOf(match[1]!) > 0) return isoDate(Number(match[3]), monthOf(match[1]!), Number(match[2]));
  match = /^(\d{1,2}) ([A-Za-z]{3,9})\.?,? (\d{4})$/.exec(text);
  if (match && monthOf(match[2]!) > 0) return isoDate(Number(match[3]), monthOf(match[2]!), Number(match[1]));
  return undefined;
}

const CURRENCY_SYMBOLS: Record<string, string> = { '€': 'EUR', $: 'USD', '£': 'GBP', '¥': 'JPY', CHF: 'CHF', 'fr.': 'CHF' };

/** An ISO currency code from a code or a common symbol. */
export function normaliseCurrency(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return CURRENCY_SYMBOLS[text] ?? (/^[A-Za-z]{3}$/.test(text) ? text.toUpperCase() : undefined);
}

/** The comparable form of a value of this kind; undefined for absent or empty values. */
export function normaliseValue(kind: ValueKind, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' && value.trim() === '') return undefined;
  const read = { amount: normaliseAmount, number: normaliseNumber, date: normaliseDate, currency: normaliseCurrency, text: () => undefined }[kind](value);
  if (read !== undefined) return read;
  return typeof value === 'string' ? foldText(value) : foldText(JSON.stringify(value));
}
