import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { SUPPORTED_FORMATS } from './schema-limits.js';

export type JsonSchema = Record<string, unknown>;
export type SchemaValidator = ValidateFunction;

// ajv-formats is CommonJS: its default export arrives as the module object under Node's ESM.
const addFormats = addFormatsModule.default;

/** Keywords whose values are data, not subschemas: never rewritten. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples']);

/**
 * A copy without `pattern` keywords, for checking answers to a caller's schema: the engine's grammar
 * already held every pattern while generating, and JavaScript's backtracking RegExp can spend
 * hours on an answer that misses a pattern the limits allow (`^a{0,25}a{0,25}...$` on 40 a's and a
 * b), on the worker's event loop. The patterns themselves are checked at POST time (schema-pattern.ts).
 */
export function withoutPatterns(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutPatterns);
  if (typeof schema !== 'object' || schema === null) return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([keyword, value]) => !(keyword === 'pattern' && typeof value === 'string'))
      .map(([keyword, value]) => [keyword, DATA_KEYWORDS.has(keyword) ? value : withoutPatterns(value)]),
  );
}

/** A fresh compile; strict mode off so draft keywords llama.cpp accepts do not throw. */
export function compileSchema(schema: JsonSchema): ValidateFunction {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv, [...SUPPORTED_FORMATS]);
  return ajv.compile(schema);
}

const CACHE_SIZE = 256;
/** Compiled validators by schema text, failures included, so a schema that throws is compiled once. */
const compiled = new Map<string, { validate: ValidateFunction } | { error: Error }>();

/**
 * The validator of a schema, compiled once per schema text (the most recently used 256 kept).
 * A compile that throws is cached too and throws the same error on every later call. The cost of
 * one compile is bounded by the schema limits (a test times the largest schema they allow).
 */
export function cachedValidator(schema: JsonSchema): ValidateFunction {
  const key = JSON.stringify(schema);
  let entry = compiled.get(key);
  if (entry) {
    compiled.delete(key);
  } else {
    try {
      entry = { validate: compileSchema(schema) };
    } catch (error) {
      entry = { error: error instanceof Error ? error : new Error(String(error)) };
    }
    if (compiled.size >= CACHE_SIZE) compiled.delete(compiled.keys().next().value!);
  }
  compiled.set(key, entry);
  if ('error' in entry) throw entry.error;
  return entry.validate;
}

export function describeErrors(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .slice(0, 5)
    .map((error) => `${error.instancePath || '(root)'} ${error.message ?? 'is invalid'}`)
    .join('; ');
}
