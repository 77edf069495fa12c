/** True positives, false positives, false negatives. */
export interface Counts {
  tp: number;
  fp: number;
  fn: number;
}

export interface Scores extends Counts {
  precision: number;
  recall: number;
  f1: number;
}

export const emptyCounts = (): Counts => ({ tp: 0, fp: 0, fn: 0 });

export function addCounts(into: Counts, more: Counts): Counts {
  into.tp += more.tp;
  into.fp += more.fp;
  into.fn += more.fn;
  return into;
}

const round = (value: number) => Math.round(value * 10_000) / 10_000;

/**
 * Precision tp/(tp+fp), recall tp/(tp+fn), F1 their harmonic mean, rounded to 4 places. Nothing
 * expected and nothing predicted (all counts 0) scores 1: there was nothing to get wrong.
 * Otherwise a zero denominator gives 0 (as scikit-learn's zero_division=0).
 */
export function scoresOf(counts: Counts): Scores {
  const { tp, fp, fn } = counts;
  if (tp + fp + fn === 0) return { tp, fp, fn, precision: 1, recall: 1, f1: 1 };
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { tp, fp, fn, precision: round(precision), recall: round(recall), f1: round(f1) };
}

/**
 * One expected value against one predicted value (both normalised; undefined = absent): equal is
 * a true positive; a wrong value is a false positive and a false negative; a value where none
 * was expected is a false positive; a missing one a false negative.
 */
export function compareValues(expected: string | undefined, predicted: string | undefined): Counts {
  if (expected === undefined && predicted === undefined) return emptyCounts();
  if (expected === predicted) return { tp: 1, fp: 0, fn: 0 };
  return { tp: 0, fp: predicted === undefined ? 0 : 1, fn: expected === undefined ? 0 : 1 };
}

/** Two sets (e.g. tags): each shared member a true positive, each extra a false positive, each missing a false negative. */
export function compareSets(expected: Set<string>, predicted: Set<string>): Counts {
  let tp = 0;
  for (const member of predicted) if (expected.has(member)) tp++;
  return { tp, fp: predicted.size - tp, fn: expected.size - tp };
}
