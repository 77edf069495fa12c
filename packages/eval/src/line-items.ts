import { normaliseValue, type ValueKind } from './normalise.js';

export const ITEM_FIELDS: readonly { name: string; kind: ValueKind }[] = [
  { name: 'description', kind: 'text' },
  { name: 'quantity', kind: 'number' },
  { name: 'unitPrice', kind: 'amount' },
  { name: 'amount', kind: 'amount' },
];

export type NormalisedItem = Record<string, string | undefined>;

export function normaliseItem(item: unknown): NormalisedItem {
  const record = item && typeof item === 'object' ? (item as Record<string, unknown>) : {};
  return Object.fromEntries(ITEM_FIELDS.map(({ name, kind }) => [name, normaliseValue(kind, record[name])]));
}

function agreement(expected: NormalisedItem, predicted: NormalisedItem): number {
  return ITEM_FIELDS.filter(({ name }) => expected[name] !== undefined && expected[name] === predicted[name]).length;
}

export interface ItemMatching {
  /** [expected index, predicted index] */
  pairs: [number, number][];
  unmatchedExpected: number[];
  unmatchedPredicted: number[];
}

/**
 * Pairs expected and predicted line items: a pair must agree on at least one field (after
 * normalisation); pairs agreeing on more fields are taken first, then those closer in position,
 * then earlier ones (greedy, each item used once). Items left over count as missing (expected)
 * or extra (predicted), field by field.
 */
export function matchLineItems(expected: NormalisedItem[], predicted: NormalisedItem[]): ItemMatching {
  const candidates: { e: number; p: number; score: number }[] = [];
  expected.forEach((item, e) =>
    predicted.forEach((other, p) => {
      const score = agreement(item, other);
      if (score > 0) candidates.push({ e, p, score });
    }),
  );
  candidates.sort((a, b) => b.score - a.score || Math.abs(a.e - a.p) - Math.abs(b.e - b.p) || a.e - b.e || a.p - b.p);
  const usedExpected = new Set<number>();
  const usedPredicted = new Set<number>();
  const pairs: [number, number][] = [];
  for (const { e, p } of candidates) {
    if (usedExpected.has(e) || usedPredicted.has(p)) continue;
    usedExpected.add(e);
    usedPredicted.add(p);
    pairs.push([e, p]);
  }
  return {
    pairs: pairs.sort((a, b) => a[0] - b[0]),
    unmatchedExpected: expected.map((_, index) => index).filter((index) => !usedExpected.has(index)),
    unmatchedPredicted: predicted.map((_, index) => index).filter((index) => !usedPredicted.has(index)),
  };
}
