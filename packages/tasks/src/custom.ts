import type { ModelTask } from './model-task.js';
import { unknownOption } from './task.js';
import { cachedValidator, withoutPatterns, type JsonSchema } from './json-schema.js';
import { UnboundedSchemaError } from './schema-errors.js';
import { boundSchema } from './schema-bounds.js';

const MAX_PROMPT = 4000;

/** Prompt and JSON schema from the request; the schema is bounded before use (or refused). */
export const customTask: ModelTask = {
  kind: 'model',
  name: 'custom',
  version: 1,
  description: 'Your prompt and JSON schema (bounded before use)',
  budget: { maxSide: 1024 },
  validateOptions(options) {
    const unknown = unknownOption('custom', options, ['prompt', 'schema', 'maxTokens']);
    if (unknown) return unknown;
    if (typeof options.prompt !== 'string' || options.prompt.trim() === '' || options.prompt.length > MAX_PROMPT) {
      return `options.prompt must be a non-empty string of at most ${MAX_PROMPT} characters`;
    }
    if (options.maxTokens !== undefined && !(Number.isInteger(options.maxTokens) && (options.maxTokens as number) >= 16 && (options.maxTokens as number) <= 4096)) {
      return 'options.maxTokens must be an integer from 16 to 4096';
    }
    if (options.schema === undefined) return 'options.schema is required (a JSON Schema for the answer)';
    let bounded: JsonSchema;
    try {
      bounded = boundSchema(options.schema, 'options.schema');
    } catch (error) {
      if (error instanceof UnboundedSchemaError) return error.message;
      throw error;
    }
    // The worker checks every answer with this validator: a schema Ajv cannot compile is refused now.
    try {
      cachedValidator(withoutPatterns(bounded) as JsonSchema);
    } catch (error) {
      return `options.schema cannot be compiled: ${(error as Error).message}`;
    }
    return undefined;
  },
  prompt: (options) => `${String(options.prompt)}\nAnswer with JSON only.`,
  schema: (options): JsonSchema => boundSchema(options.schema, 'options.schema'),
  answerSchema: (schema): JsonSchema => withoutPatterns(schema) as JsonSchema,
  maxOutputTokens: (options) => (options.maxTokens as number | undefined) ?? 512,
  warnings: () => [],
  describe: (result) => JSON.stringify(result.output).slice(0, 120),
};
