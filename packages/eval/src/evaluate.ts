import { addCounts, emptyCounts, scoresOf, type Counts, type Scores } from './scores.js';
import { Tally, type Example } from './tally.js';
import { taskSpecs, type Fields } from './task-fields.js';

export const EVAL_TASKS = Object.keys(taskSpecs);

/** One line of labels.jsonl: the source key and the fields a correct answer has. */
export interface Label {
  key: string;
  fields: Fields;
}

/** What the batch answered for a labelled key: its output, or why there is none. */
export type Prediction = { status: 'ok'; output: Fields } | { status: 'failed'; code: string };

export interface FieldReport extends Scores {
  field: string;
  support: number;
  predicted: number;
}

export interface EvalReport {
  task: string;
  batchId?: string;
  inputs: {
    labelled: number;
    /** Labelled inputs with an ok result. */
    answered: number;
    /** Labelled inputs whose result failed (every expected field counts as missed). */
    failed: number;
    /** Labelled inputs the batch has no result for (likewise). */
    missing: number;
  };
  /** Per field, in the task's order; only fields some label has. */
  fields: FieldReport[];
  /** Micro average over every field (counts summed), and the mean F1 of the fields. */
  overall: Scores & { macroF1: number };
  /** The lowest-F1 fields, with examples of their errors. */
  worst: { field: string; f1: number; examples: Example[] }[];
  /** Per tag (tagging), most errors first. */
  tags?: (Scores & { tag: string })[];
  /** Fields the task has that no label gives: not scored. */
  notLabelled: string[];
}

export const WORST_FIELDS = 5;
const round = (value: number) => Math.round(value * 10_000) / 10_000;

/**
 * Field-level precision, recall and F1 of a task's answers against labels (see README, Eval).
 * Throws for a task the eval does not know.
 */
export function evaluate(task: string, labels: Label[], predictions: ReadonlyMap<string, Prediction>, batchId?: string): EvalReport {
  const spec = taskSpecs[task];
  if (!spec) throw new Error(`the eval scores ${EVAL_TASKS.join(' and ')} batches, not ${task}`);
  const labelled = new Set(labels.flatMap((label) => spec.labelledFields(label.fields)));
  const tally = new Tally(labelled);
  const perTag = new Map<string, Counts>();
  const inputs = { labelled: labels.length, answered: 0, failed: 0, missing: 0 };
  for (const label of labels) {
    const prediction = predictions.get(label.key);
    if (!prediction) inputs.missing++;
    else if (prediction.status === 'failed') inputs.failed++;
    else inputs.answered++;
    spec.compare(tally, label.key, label.fields, prediction?.status === 'ok' ? prediction.output : undefined, perTag);
  }
  const fields = spec.fieldNames
    .filter((field) => labelled.has(field))
    .map((field): FieldReport => {
      const { counts, support, predicted } = tally.field(field);
      return { field, support, predicted, ...scoresOf(counts) };
    });
  const total = fields.reduce((sum, field) => addCounts(sum, field), emptyCounts());
  const macroF1 = fields.length === 0 ? 0 : round(fields.reduce((sum, field) => sum + field.f1, 0) / fields.length);
  const worst = [...fields]
    .sort((a, b) => a.f1 - b.f1 || b.support - a.support)
    .slice(0, WORST_FIELDS)
    .map(({ field, f1 }) => ({ field, f1, examples: tally.field(field).examples }));
  const report: EvalReport = {
    task,
    ...(batchId === undefined ? {} : { batchId }),
    inputs,
    fields,
    overall: { ...scoresOf(total), macroF1 },
    worst,
    notLabelled: spec.fieldNames.filter((field) => !labelled.has(field)),
  };
  if (task === 'tagging') {
    report.tags = [...perTag]
      .map(([tag, counts]) => ({ tag, ...scoresOf(counts) }))
      .sort((a, b) => b.fp + b.fn - (a.fp + a.fn) || a.tag.localeCompare(b.tag));
  }
  return report;
}
