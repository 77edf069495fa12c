import type { ImageBudget } from '@imagefleet/imaging';
import type { JsonSchema } from './json-schema.js';

/**
 * A task answered by a vision-language model: a prompt, a bounded JSON schema the output is
 * constrained to, and checks after generation. Everything may depend on the request's options.
 */
export interface ModelTask {
  readonly kind: 'model';
  readonly name: string;
  /**
   * Part of the result cache key: bump it when a result computed before a change must not be
   * reused — the prompt, the schema, answer validation or warnings, the image budget or the shape
   * of the stored result changed. Not for a refactor that computes the same results; the model,
   * the batch options and the source bytes are separate parts of the key.
   */
  readonly version: number;
  readonly description: string;
  readonly budget: ImageBudget;
  /** Checks options; returns a message naming the bad field, or undefined. */
  validateOptions(options: Record<string, unknown>): string | undefined;
  prompt(options: Record<string, unknown>): string;
  schema(options: Record<string, unknown>): JsonSchema;
  /** What answers are validated against, derived from schema(options) when not that schema itself (a caller's schema, without its patterns). */
  answerSchema?(schema: JsonSchema): JsonSchema;
  maxOutputTokens(options: Record<string, unknown>): number;
  /** Checks beyond the schema that a correct answer should pass; reported as warnings, never fatal. */
  warnings(output: unknown, options: Record<string, unknown>): string[];
  describe(result: ModelTaskResult): string;
}

/** What a model task stores per input. */
export interface ModelTaskResult {
  output: Record<string, unknown>;
  warnings: string[];
  model: string;
  tokens: { prompt: number; completion: number };
  timings: { promptMs: number; generationMs: number; totalMs: number };
  seed: number;
  attempts: number;
}

function isStringList(value: unknown, maxItems: number, pattern: RegExp): value is string[] {
  return Array.isArray(value) && value.length > 0 && value.length <= maxItems && value.every((item) => typeof item === 'string' && pattern.test(item));
}

export const optionCheckers = { isStringList };
