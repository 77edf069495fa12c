import { Ajv, type ValidateFunction } from 'ajv';

export type JsonSchema = Record<string, unknown>;
export type SchemaValidator = ValidateFunction;

/** Compiled once per schema; strict mode off so draft keywords llama.cpp accepts do not throw. */
export function compileSchema(schema: JsonSchema): ValidateFunction {
  return new Ajv({ strict: false, allErrors: true }).compile(schema);
}

export function describeErrors(validate: ValidateFunction): string {
  return (validate.errors ?? [])
    .slice(0, 5)
    .map((error) => `${error.instancePath || '(root)'} ${error.message ?? 'is invalid'}`)
    .join('; ');
}

export class UnboundedSchemaError extends Error {}

export interface BoundingLimits {
  maxStringLength: number;
  maxItems: number;
  maxDepth: number;
  maxProperties: number;
}

export const defaultBoundingLimits: BoundingLimits = { maxStringLength: 256, maxItems: 32, maxDepth: 6, maxProperties: 64 };

const UNSUPPORTED = ['$ref', '$defs', 'definitions', 'patternProperties', 'dependentSchemas', 'if', 'not', 'unevaluatedProperties', 'unevaluatedItems'];

/**
 * Returns a copy of a request's schema in which every string has maxLength (or a pattern, enum or
 * const), every array maxItems, every object a closed set of properties. Schemas that cannot be
 * bounded (references, open-ended keys, too deep) throw UnboundedSchemaError naming the path.
 * A weak model on an unbounded schema can generate until its token limit and never close the JSON.
 */
export function boundSchema(schema: unknown, limits: BoundingLimits = defaultBoundingLimits, path = 'schema', depth = 0): JsonSchema {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new UnboundedSchemaError(`${path} must be an object`);
  if (depth > limits.maxDepth) throw new UnboundedSchemaError(`${path} nests deeper than ${limits.maxDepth} levels`);
  const source = schema as JsonSchema;
  for (const keyword of UNSUPPORTED) {
    if (keyword in source) throw new UnboundedSchemaError(`${path}.${keyword} is not supported (the schema must be self-contained and closed)`);
  }
  const out: JsonSchema = { ...source };
  for (const combiner of ['anyOf', 'oneOf', 'allOf'] as const) {
    if (combiner in source) {
      const options = source[combiner];
      if (!Array.isArray(options) || options.length === 0) throw new UnboundedSchemaError(`${path}.${combiner} must be a non-empty array`);
      out[combiner] = options.map((option, index) => boundSchema(option, limits, `${path}.${combiner}[${index}]`, depth + 1));
    }
  }
  if ('enum' in source || 'const' in source) return out;
  const types = Array.isArray(source.type) ? (source.type as unknown[]) : source.type === undefined ? [] : [source.type];
  if (types.length === 0 && !('anyOf' in source || 'oneOf' in source || 'allOf' in source)) {
    throw new UnboundedSchemaError(`${path} needs a "type" (or enum/const/anyOf)`);
  }
  for (const type of types) {
    switch (type) {
      case 'string':
        if (!('pattern' in source) && !('format' in source)) {
          out.maxLength = Math.min(Number(source.maxLength ?? limits.maxStringLength), limits.maxStringLength);
        }
        break;
      case 'array': {
        out.maxItems = Math.min(Number(source.maxItems ?? limits.maxItems), limits.maxItems);
        if (source.items === undefined) throw new UnboundedSchemaError(`${path}.items is required for arrays`);
        if (Array.isArray(source.items)) throw new UnboundedSchemaError(`${path}.items must be one schema (tuples are not supported)`);
        out.items = boundSchema(source.items, limits, `${path}.items`, depth + 1);
        break;
      }
      case 'object': {
        const properties = source.properties;
        if (typeof properties !== 'object' || properties === null || Object.keys(properties).length === 0) {
          throw new UnboundedSchemaError(`${path}.properties must list the object's fields (open-ended objects cannot be bounded)`);
        }
        if (source.additionalProperties !== undefined && source.additionalProperties !== false) {
          throw new UnboundedSchemaError(`${path}.additionalProperties must be false or absent`);
        }
        const entries = Object.entries(properties as Record<string, unknown>);
        if (entries.length > limits.maxProperties) throw new UnboundedSchemaError(`${path} has more than ${limits.maxProperties} properties`);
        out.properties = Object.fromEntries(entries.map(([name, value]) => [name, boundSchema(value, limits, `${path}.properties.${name}`, depth + 1)]));
        out.additionalProperties = false;
        break;
      }
      case 'number':
      case 'integer':
      case 'boolean':
      case 'null':
        break;
      default:
        throw new UnboundedSchemaError(`${path}.type ${JSON.stringify(type)} is not a JSON Schema type`);
    }
  }
  return out;
}
