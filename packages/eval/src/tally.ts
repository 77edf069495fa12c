import { addCounts, emptyCounts, type Counts } from './scores.js';

/** A wrong, missing or extra value, as the report shows it. */
export interface Example {
  key: string;
  expected: unknown;
  got: unknown;
}

export interface FieldTally {
  counts: Counts;
  /** Inputs (or line items) with an expected value. */
  support: number;
  /** Inputs (or line items) with a predicted value. */
  predicted: number;
  examples: Example[];
}

export const EXAMPLES_PER_FIELD = 3;

/** Counts per field, and the first few examples of each field's errors. */
export class Tally {
  readonly fields = new Map<string, FieldTally>();

  constructor(
    /** Only these fields are counted (the fields some label has). */
    readonly labelled: ReadonlySet<string>,
  ) {}

  field(name: string): FieldTally {
    let tally = this.fields.get(name);
    if (!tally) {
      tally = { counts: emptyCounts(), support: 0, predicted: 0, examples: [] };
      this.fields.set(name, tally);
    }
    return tally;
  }

  /** One comparison of a field: its counts, and an example when it was not a match. */
  record(name: string, counts: Counts, example: Example, present: { expected: boolean; predicted: boolean }): void {
    if (!this.labelled.has(name)) return;
    const tally = this.field(name);
    addCounts(tally.counts, counts);
    if (present.expected) tally.support++;
    if (present.predicted) tally.predicted++;
    if ((counts.fp > 0 || counts.fn > 0) && tally.examples.length < EXAMPLES_PER_FIELD) tally.examples.push(example);
  }
}
