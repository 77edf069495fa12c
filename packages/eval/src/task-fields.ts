import { compareSets, compareValues, type Counts } from './scores.js';
import { foldText, normaliseValue, type ValueKind } from './normalise.js';
import { ITEM_FIELDS, matchLineItems, normaliseItem } from './line-items.js';
import type { Tally } from './tally.js';

export type Fields = Record<string, unknown>;

interface ScalarField {
  name: string;
  kind: ValueKind;
}

/** How one task's answers are compared with its labels. */
export interface TaskSpec {
  task: 'invoice' | 'tagging';
  /** Every field the eval can score, in report order. */
  fieldNames: string[];
  /** The fields a label has values for. */
  labelledFields(fields: Fields): string[];
  /** Compares one input's expected and predicted fields into the tally (predicted undefined: no answer). */
  compare(tally: Tally, key: string, expected: Fields, predicted: Fields | undefined, perTag: Map<string, Counts>): void;
}

/** A dotted path into nested objects ("attributes.colour"). */
function valueAt(fields: Fields | undefined, path: string): unknown {
  return path.split('.').reduce<unknown>((value, part) => (value && typeof value === 'object' ? (value as Fields)[part] : undefined), fields);
}

function compareScalars(tally: Tally, scalars: ScalarField[], key: string, expected: Fields, predicted: Fields | undefined): void {
  for (const { name, kind } of scalars) {
    const [rawExpected, rawPredicted] = [valueAt(expected, name), valueAt(predicted, name)];
    const [e, p] = [normaliseValue(kind, rawExpected), normaliseValue(kind, rawPredicted)];
    tally.record(name, compareValues(e, p), { key, expected: rawExpected ?? null, got: rawPredicted ?? null }, { expected: e !== undefined, predicted: p !== undefined });
  }
}

function presentScalars(scalars: ScalarField[], fields: Fields): string[] {
  return scalars.filter(({ name, kind }) => normaliseValue(kind, valueAt(fields, name)) !== undefined).map(({ name }) => name);
}

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

const INVOICE_SCALARS: ScalarField[] = [
  { name: 'vendor', kind: 'text' },
  { name: 'invoiceNumber', kind: 'text' },
  { name: 'issueDate', kind: 'date' },
  { name: 'dueDate', kind: 'date' },
  { name: 'currency', kind: 'currency' },
  { name: 'subtotal', kind: 'amount' },
  { name: 'tax', kind: 'amount' },
  { name: 'total', kind: 'amount' },
];
const itemField = (name: string) => `lineItems.${name}`;

export const invoiceSpec: TaskSpec = {
  task: 'invoice',
  fieldNames: [...INVOICE_SCALARS.map(({ name }) => name), ...ITEM_FIELDS.map(({ name }) => itemField(name))],
  labelledFields: (fields) => [
    ...presentScalars(INVOICE_SCALARS, fields),
    ...ITEM_FIELDS.filter(({ name }) => asList(fields.lineItems).some((item) => normaliseItem(item)[name] !== undefined)).map(({ name }) => itemField(name)),
  ],
  compare(tally, key, expected, predicted) {
    compareScalars(tally, INVOICE_SCALARS, key, expected, predicted);
    const rawExpected = asList(expected.lineItems);
    const rawPredicted = asList(predicted?.lineItems);
    const [e, p] = [rawExpected.map(normaliseItem), rawPredicted.map(normaliseItem)];
    const { pairs, unmatchedExpected, unmatchedPredicted } = matchLineItems(e, p);
    const rows: [number | undefined, number | undefined][] = [...pairs, ...unmatchedExpected.map((i): [number, undefined] => [i, undefined]), ...unmatchedPredicted.map((j): [undefined, number] => [undefined, j])];
    for (const [i, j] of rows) {
      for (const { name } of ITEM_FIELDS) {
        const [want, got] = [i === undefined ? undefined : e[i]![name], j === undefined ? undefined : p[j]![name]];
        const example = { key: `${key} item ${(i ?? j)! + 1}`, expected: i === undefined ? null : ((rawExpected[i] as Fields)[name] ?? null), got: j === undefined ? null : ((rawPredicted[j] as Fields)[name] ?? null) };
        tally.record(itemField(name), compareValues(want, got), example, { expected: want !== undefined, predicted: got !== undefined });
      }
    }
  },
};

const TAGGING_SCALARS: ScalarField[] = ['category', 'title', 'attributes.colour', 'attributes.material', 'attributes.pattern', 'attributes.style', 'attributes.audience'].map((name) => ({ name, kind: 'text' }));

function tagSet(value: unknown): Set<string> {
  return new Set(asList(value).filter((tag): tag is string => typeof tag === 'string').map(foldText).filter(Boolean));
}

export const taggingSpec: TaskSpec = {
  task: 'tagging',
  fieldNames: [...TAGGING_SCALARS.map(({ name }) => name), 'tags'],
  labelledFields: (fields) => [...presentScalars(TAGGING_SCALARS, fields), ...(Array.isArray(fields.tags) ? ['tags'] : [])],
  compare(tally, key, expected, predicted, perTag) {
    compareScalars(tally, TAGGING_SCALARS, key, expected, predicted);
    if (!tally.labelled.has('tags')) return;
    const [e, p] = [tagSet(expected.tags), tagSet(predicted?.tags)];
    tally.record('tags', compareSets(e, p), { key, expected: [...e], got: [...p] }, { expected: e.size > 0, predicted: p.size > 0 });
    for (const tag of new Set([...e, ...p])) {
      const counts = perTag.get(tag) ?? { tp: 0, fp: 0, fn: 0 };
      const [expectedHas, predictedHas] = [e.has(tag), p.has(tag)];
      if (expectedHas && predictedHas) counts.tp++;
      else if (predictedHas) counts.fp++;
      else counts.fn++;
      perTag.set(tag, counts);
    }
  },
};

export const taskSpecs: Record<string, TaskSpec> = { invoice: invoiceSpec, tagging: taggingSpec };
