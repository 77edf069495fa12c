import { UnboundedSchemaError } from './schema-errors.js';
import { SUPPORTED_FORMATS, schemaLimits, type SchemaLimits } from './schema-limits.js';
import { checkPattern } from './schema-pattern.js';

type JsonSchema = Record<string, unknown>;

const ANNOTATIONS = ['title', 'description', '$comment', 'default', 'examples'];
const COMMON = ['type', 'enum', 'const', 'anyOf', 'oneOf', ...ANNOTATIONS];
const KEYWORDS_OF_TYPE: Record<string, string[]> = {
  string: ['minLength', 'maxLength', 'pattern', 'format'],
  number: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'],
  integer: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'],
  array: ['items', 'minItems', 'maxItems'],
  object: ['properties', 'required', 'additionalProperties'],
  boolean: [],
  null: [],
};
const ALL_KEYWORDS = new Set([...COMMON, ...Object.values(KEYWORDS_OF_TYPE).flat()]);
/** What llama.cpp treats as draft-07 (or ignores): a root $schema naming it is dropped, any other refused. */
const DRAFT_07 = /^https?:\/\/json-schema\.org\/draft-07\/schema#?$/;

/** What the whole schema has used so far of the totals in SchemaLimits. */
interface Budget {
  nodes: number;
  branches: number;
  enumBytes: number;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

function childPath(path: string, name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`;
}

/**
 * Returns a copy of a request's schema in which every string has maxLength (or a pattern, enum,
 * const or a format llama.cpp bounds), every array maxItems, every object a closed set of
 * properties, and everything within SchemaLimits; a schema that cannot be made so throws
 * UnboundedSchemaError naming the JSON path. Only keywords both llama.cpp (which turns the schema
 * into a grammar) and Ajv (which checks the answer) read the same way are accepted.
 */
export function boundSchema(schema: unknown, path = 'schema', limits: SchemaLimits = schemaLimits): JsonSchema {
  let root = schema;
  if (typeof schema === 'object' && schema !== null && !Array.isArray(schema) && '$schema' in schema) {
    const { $schema: dialect, ...rest } = schema as JsonSchema;
    if (typeof dialect !== 'string' || !DRAFT_07.test(dialect)) throw new UnboundedSchemaError(`${path}.$schema must be draft-07 (http://json-schema.org/draft-07/schema#) or absent`);
    root = rest;
  }
  const bytes = jsonBytes(root);
  if (bytes > limits.maxSchemaBytes) throw new UnboundedSchemaError(`${path} is ${bytes} bytes as JSON (at most ${limits.maxSchemaBytes})`);
  return boundNode(root, path, 0, limits, { nodes: 0, branches: 0, enumBytes: 0 });
}

function boundNode(schema: unknown, path: string, depth: number, limits: SchemaLimits, budget: Budget): JsonSchema {
  const fail = (at: string, reason: string): never => {
    throw new UnboundedSchemaError(`${at} ${reason}`);
  };
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) fail(path, 'must be an object');
  if (depth > limits.maxDepth) fail(path, `nests deeper than ${limits.maxDepth} levels`);
  if (++budget.nodes > limits.maxNodes) fail(path, `is past the schema's ${limits.maxNodes} subschemas (properties, items and branches)`);
  const source = schema as JsonSchema;
  for (const keyword of Object.keys(source)) {
    if (!ALL_KEYWORDS.has(keyword)) fail(`${path}.${keyword}`, `is not supported (the schema must be self-contained and closed; supported: ${[...ALL_KEYWORDS].join(', ')})`);
  }
  const out: JsonSchema = { ...source };
  boundValues(source, path, limits, budget);
  boundUnions(source, out, path, depth, limits, budget);
  if ('enum' in source || 'const' in source) {
    // The grammar emits exactly the listed values, so nothing else may sit beside them: no other
    // keyword would be enforced, and Ajv would still evaluate it (e.g. a backtracking pattern).
    const beside = Object.keys(source).find((keyword) => !['enum', 'const', 'type', ...ANNOTATIONS].includes(keyword));
    if (beside !== undefined) fail(`${path}.${beside}`, 'cannot sit beside enum or const (the value is fixed by them)');
    return out;
  }
  const types = Array.isArray(source.type) ? (source.type as unknown[]) : source.type === undefined ? [] : [source.type];
  if (types.length === 0 && !('anyOf' in source || 'oneOf' in source)) fail(path, 'needs a "type" (or enum/const/anyOf/oneOf)');
  if (types.length > 1) {
    // llama.cpp turns a list of types into one branch per type.
    budget.branches += types.length;
    if (types.length > limits.maxBranches) fail(`${path}.type`, `lists ${types.length} types (at most ${limits.maxBranches})`);
  }
  for (const type of types) {
    if (typeof type !== 'string' || !(type in KEYWORDS_OF_TYPE)) fail(`${path}.type`, `${JSON.stringify(type)} is not a JSON Schema type`);
  }
  for (const keyword of Object.keys(source)) {
    if (!COMMON.includes(keyword) && !types.some((type) => KEYWORDS_OF_TYPE[type as string]!.includes(keyword))) {
      fail(`${path}.${keyword}`, `does not apply to type ${JSON.stringify(source.type ?? 'anyOf/oneOf')}`);
    }
  }
  for (const type of types as string[]) {
    if (type === 'string') boundString(source, out, path, limits);
    else if (type === 'number' || type === 'integer') checkRange(source, path, type === 'integer');
    else if (type === 'array') boundArray(source, out, path, depth, limits, budget);
    else if (type === 'object') boundObject(source, out, path, depth, limits, budget);
  }
  return out;
}

function boundValues(source: JsonSchema, path: string, limits: SchemaLimits, budget: Budget): void {
  if ('enum' in source) {
    const values = source.enum;
    if (!Array.isArray(values) || values.length === 0) throw new UnboundedSchemaError(`${path}.enum must be a non-empty array`);
    if (values.length > limits.maxEnumValues) throw new UnboundedSchemaError(`${path}.enum has ${values.length} values (at most ${limits.maxEnumValues})`);
    budget.enumBytes += jsonBytes(values);
  }
  if ('const' in source) budget.enumBytes += jsonBytes(source.const);
  if (budget.enumBytes > limits.maxEnumBytes) throw new UnboundedSchemaError(`${path} brings the schema's enum and const values to ${budget.enumBytes} bytes (at most ${limits.maxEnumBytes})`);
}

function boundUnions(source: JsonSchema, out: JsonSchema, path: string, depth: number, limits: SchemaLimits, budget: Budget): void {
  if ('anyOf' in source && 'oneOf' in source) throw new UnboundedSchemaError(`${path} has both anyOf and oneOf; llama.cpp reads only one of them`);
  for (const combiner of ['anyOf', 'oneOf'] as const) {
    if (!(combiner in source)) continue;
    const branches = source[combiner];
    if (!Array.isArray(branches) || branches.length === 0) throw new UnboundedSchemaError(`${path}.${combiner} must be a non-empty array`);
    if (branches.length > limits.maxBranches) throw new UnboundedSchemaError(`${path}.${combiner} has ${branches.length} branches (at most ${limits.maxBranches})`);
    budget.branches += branches.length;
    if (budget.branches > limits.maxTotalBranches) throw new UnboundedSchemaError(`${path}.${combiner} brings the schema to ${budget.branches} anyOf/oneOf branches (at most ${limits.maxTotalBranches})`);
    out[combiner] = branches.map((branch, index) => boundNode(branch, `${path}.${combiner}[${index}]`, depth + 1, limits, budget));
  }
}

function count(source: JsonSchema, keyword: string, path: string): number | undefined {
  const value = source[keyword];
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw new UnboundedSchemaError(`${path}.${keyword} must be a non-negative integer`);
  return value as number;
}

function boundString(source: JsonSchema, out: JsonSchema, path: string, limits: SchemaLimits): void {
  const minLength = count(source, 'minLength', path) ?? 0;
  const maxLength = Math.min(count(source, 'maxLength', path) ?? limits.maxStringLength, limits.maxStringLength);
  if (minLength > maxLength) throw new UnboundedSchemaError(`${path}.minLength ${minLength} is above the string's longest length ${maxLength}`);
  if ('format' in source && !(SUPPORTED_FORMATS as readonly unknown[]).includes(source.format)) {
    throw new UnboundedSchemaError(`${path}.format ${JSON.stringify(source.format)} is not supported (llama.cpp bounds only ${SUPPORTED_FORMATS.join(', ')})`);
  }
  if ('pattern' in source) checkPattern(source.pattern, `${path}.pattern`, limits);
  if (!('pattern' in source) && !('format' in source)) out.maxLength = maxLength;
}

function bound(source: JsonSchema, keyword: string, path: string, integer: boolean): number | undefined {
  const value = source[keyword];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new UnboundedSchemaError(`${path}.${keyword} must be a finite number`);
  if (integer && !Number.isSafeInteger(value)) throw new UnboundedSchemaError(`${path}.${keyword} must be an integer between -(2^53-1) and 2^53-1 for an integer`);
  return value;
}

/** Bounds that are numbers, integers where the grammar needs them, and leave at least one value. */
function checkRange(source: JsonSchema, path: string, integer: boolean): void {
  const minimum = bound(source, 'minimum', path, integer);
  const maximum = bound(source, 'maximum', path, integer);
  const exclusiveMinimum = bound(source, 'exclusiveMinimum', path, integer);
  const exclusiveMaximum = bound(source, 'exclusiveMaximum', path, integer);
  const multipleOf = bound(source, 'multipleOf', path, false);
  if (multipleOf !== undefined && multipleOf <= 0) throw new UnboundedSchemaError(`${path}.multipleOf must be above 0`);
  const lower = Math.max(minimum ?? -Infinity, exclusiveMinimum === undefined ? -Infinity : integer ? exclusiveMinimum + 1 : exclusiveMinimum);
  const upper = Math.min(maximum ?? Infinity, exclusiveMaximum === undefined ? Infinity : integer ? exclusiveMaximum - 1 : exclusiveMaximum);
  const open = !integer && (exclusiveMinimum === lower || exclusiveMaximum === upper);
  if (lower > upper || (open && lower === upper)) {
    const at = `${path}.${minimum !== undefined ? 'minimum' : 'exclusiveMinimum'}`;
    throw new UnboundedSchemaError(`${at} leaves no value: the lower bound ${lower} is not below the upper bound ${upper}`);
  }
}

function boundArray(source: JsonSchema, out: JsonSchema, path: string, depth: number, limits: SchemaLimits, budget: Budget): void {
  const minItems = count(source, 'minItems', path) ?? 0;
  const maxItems = Math.min(count(source, 'maxItems', path) ?? limits.maxItems, limits.maxItems);
  if (minItems > maxItems) throw new UnboundedSchemaError(`${path}.minItems ${minItems} is above the array's most items ${maxItems}`);
  out.maxItems = maxItems;
  if (source.items === undefined) throw new UnboundedSchemaError(`${path}.items is required for arrays`);
  if (Array.isArray(source.items)) throw new UnboundedSchemaError(`${path}.items must be one schema (tuples are not supported)`);
  out.items = boundNode(source.items, `${path}.items`, depth + 1, limits, budget);
}

function boundObject(source: JsonSchema, out: JsonSchema, path: string, depth: number, limits: SchemaLimits, budget: Budget): void {
  const properties = source.properties;
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties) || Object.keys(properties).length === 0) {
    throw new UnboundedSchemaError(`${path}.properties must list the object's fields (open-ended objects cannot be bounded)`);
  }
  if (source.additionalProperties !== undefined && source.additionalProperties !== false) {
    throw new UnboundedSchemaError(`${path}.additionalProperties must be false or absent`);
  }
  const entries = Object.entries(properties as JsonSchema);
  if (entries.length > limits.maxProperties) throw new UnboundedSchemaError(`${path} has more than ${limits.maxProperties} properties`);
  const long = entries.find(([name]) => name.length > limits.maxPropertyNameLength || name.length === 0);
  if (long) throw new UnboundedSchemaError(`${childPath(`${path}.properties`, long[0].slice(0, 80))} must have a name of 1 to ${limits.maxPropertyNameLength} characters`);
  if (source.required !== undefined) {
    const required = source.required;
    if (!Array.isArray(required) || required.some((name) => typeof name !== 'string' || !Object.hasOwn(properties as JsonSchema, name))) {
      throw new UnboundedSchemaError(`${path}.required must list names of the object's properties`);
    }
  }
  out.properties = Object.fromEntries(entries.map(([name, value]) => [name, boundNode(value, childPath(`${path}.properties`, name), depth + 1, limits, budget)]));
  out.additionalProperties = false;
}
