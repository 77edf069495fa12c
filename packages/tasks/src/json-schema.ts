import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { SUPPORTED_FORMATS } from './schema-limits.js';

export type JsonSchema = Record<string, unknown>;
export type SchemaValidator = ValidateFunction;

// ajv-formats is CommonJS: its default export arrives as the module object under Node's ESM.
const addFormats = addFormatsModule.default;

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
