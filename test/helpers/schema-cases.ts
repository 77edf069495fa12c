import { captionTask, invoiceTask, schemaLimits, taggingTask, type JsonSchema } from '@imagefleet/tasks';

/** A custom schema the API must refuse, and the start of the message: the JSON path it names. */
export interface HostileSchema {
  name: string;
  schema: unknown;
  path: string;
}

const many = <T>(count: number, make: (index: number) => T): T[] => Array.from({ length: count }, (_, index) => make(index));
const fields = (count: number, make: (index: number) => unknown) => Object.fromEntries(many(count, (index) => [`f${index}`, make(index)]));

/** Hostile or careless schemas: the findings first, then every limit. */
export const hostileSchemas: HostileSchema[] = [
  { name: 'minLength 100,000,000', schema: { type: 'string', minLength: 100_000_000 }, path: 'options.schema.minLength' },
  { name: 'unanchored pattern', schema: { type: 'string', pattern: '[a-z]+' }, path: 'options.schema.pattern' },
  { name: 'const beside a backtracking pattern', schema: { const: `${'a'.repeat(40)}!`, pattern: '^(a+)+$' }, path: 'options.schema.pattern' },
  { name: 'const beside unchecked items', schema: { const: 1, type: 'array', items: { type: 'string', pattern: '[a-z]+' } }, path: 'options.schema.items' },
  { name: 'required naming an inherited member', schema: { type: 'object', properties: { a: { type: 'boolean' } }, required: ['constructor'] }, path: 'options.schema.required' },
  { name: 'integer minimum above maximum', schema: { type: 'integer', minimum: 10, maximum: 1 }, path: 'options.schema.minimum' },
  { name: '300,000-value enum', schema: { type: 'string', enum: many(300_000, (i) => `v${i}`) }, path: 'options.schema' },
  { name: '20,000 anyOf branches', schema: { anyOf: many(20_000, (i) => ({ const: `c${i}` })) }, path: 'options.schema' },
  { name: 'schema over 32 KiB', schema: { type: 'object', properties: fields(60, () => ({ type: 'string', description: 'x'.repeat(600) })) }, path: 'options.schema' },
  { name: '300-value enum', schema: { type: 'string', enum: many(300, (i) => `v${i}`) }, path: 'options.schema.enum' },
  { name: 'enum values over 16 KiB', schema: { type: 'object', properties: fields(3, () => ({ enum: many(200, (i) => `value-${'x'.repeat(20)}-${i}`) })) }, path: 'options.schema' },
  { name: '17 anyOf branches', schema: { anyOf: many(17, () => ({ type: 'boolean' })) }, path: 'options.schema.anyOf' },
  { name: '33 anyOf branches in total', schema: { type: 'object', properties: fields(3, () => ({ anyOf: many(12, () => ({ type: 'boolean' })) })) }, path: 'options.schema.properties.f2.anyOf' },
  { name: 'allOf', schema: { allOf: [{ type: 'string' }] }, path: 'options.schema.allOf' },
  { name: 'minLength above maxLength', schema: { type: 'string', minLength: 10, maxLength: 5 }, path: 'options.schema.minLength' },
  { name: 'fractional maxLength', schema: { type: 'string', maxLength: 2.5 }, path: 'options.schema.maxLength' },
  { name: 'minItems above the array limit', schema: { type: 'array', items: { type: 'boolean' }, minItems: 1000 }, path: 'options.schema.minItems' },
  { name: 'number minimum above maximum', schema: { type: 'number', minimum: 1.5, maximum: 1 }, path: 'options.schema.minimum' },
  { name: 'integer bound past 2^53', schema: { type: 'integer', maximum: 1e300 }, path: 'options.schema.maximum' },
  { name: 'fractional integer bound', schema: { type: 'integer', minimum: 0.5 }, path: 'options.schema.minimum' },
  { name: 'string as a bound', schema: { type: 'number', minimum: '0' }, path: 'options.schema.minimum' },
  { name: 'pattern that is no RegExp', schema: { type: 'string', pattern: '^(a$' }, path: 'options.schema.pattern' },
  { name: 'pattern with escaped final $', schema: { type: 'string', pattern: '^a\\$' }, path: 'options.schema.pattern' },
  { name: 'pattern with \\d', schema: { type: 'string', pattern: '^\\d{4}$' }, path: 'options.schema.pattern' },
  { name: 'pattern with unbounded +', schema: { type: 'string', pattern: '^[a-z]+$' }, path: 'options.schema.pattern' },
  { name: 'pattern repeating 5,000 times', schema: { type: 'string', pattern: '^a{5000}$' }, path: 'options.schema.pattern' },
  { name: 'pattern with lookahead', schema: { type: 'string', pattern: '^(?=a)[a-z]{1,3}$' }, path: 'options.schema.pattern' },
  { name: 'catastrophic pattern (a|a){0,64}', schema: { type: 'string', pattern: '^(a|aa){0,64}$' }, path: 'options.schema.pattern' },
  { name: 'pattern matching 1,024 characters', schema: { type: 'string', pattern: '^[a-z]{0,256}[a-z]{0,256}[a-z]{0,256}[a-z]{0,256}$' }, path: 'options.schema.pattern' },
  { name: 'unsupported format', schema: { type: 'string', format: 'email' }, path: 'options.schema.format' },
  { name: '$ref', schema: { $ref: '#/definitions/x' }, path: 'options.schema.$ref' },
  { name: 'required naming no property', schema: { type: 'object', properties: { a: { type: 'boolean' } }, required: ['b'] }, path: 'options.schema.required' },
  { name: 'keyword of another type', schema: { type: 'string', maximum: 3 }, path: 'options.schema.maximum' },
  { name: 'too deep', schema: many(8, () => 0).reduce<JsonSchema>((inner) => ({ type: 'array', items: inner }), { type: 'boolean' }), path: 'options.schema' },
];

/**
 * Schemas the API accepts; each is sent to the engines as the API bounds it. The task schemas are
 * here too: they go through the same engines.
 */
export const acceptedSchemas: { name: string; schema: JsonSchema }[] = [
  { name: 'boolean', schema: { type: 'boolean' } },
  { name: 'tagging task', schema: taggingTask.schema({}) },
  { name: 'invoice task', schema: invoiceTask.schema({}) },
  { name: 'caption task', schema: captionTask.schema({}) },
  { name: 'string with a huge maxLength (capped)', schema: { type: 'string', maxLength: 100_000 } },
  { name: 'longest string, shortest fixed', schema: { type: 'string', minLength: 256 } },
  { name: 'formats', schema: { type: 'object', properties: { d: { type: 'string', format: 'date' }, t: { type: 'string', format: 'time' }, dt: { type: 'string', format: 'date-time' }, u: { type: 'string', format: 'uuid' } } } },
  { name: 'integer range', schema: { type: 'integer', minimum: -5, maximum: 17 } },
  { name: 'integer exclusive bounds', schema: { type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 100 } },
  { name: 'number range', schema: { type: 'number', minimum: 0, maximum: 1 } },
  { name: '256-value enum', schema: { type: 'string', enum: many(schemaLimits.maxEnumValues, (i) => `value-${i}`) } },
  { name: 'anyOf of 16', schema: { anyOf: many(schemaLimits.maxBranches, (i) => ({ const: `c${i}` })) } },
  { name: 'type list', schema: { type: ['string', 'null'], maxLength: 12 } },
  { name: 'patterns at the limits', schema: { type: 'object', properties: { a: { type: 'string', pattern: '^[a-z]{0,256}$' }, b: { type: 'string', pattern: '^(?:ab){0,128}$' }, c: { type: 'string', pattern: '^(jpg|png|gif)?-[A-Z]{3}\\.[0-9]{2}[^a-z]{1,4}.{0,8}$' } } } },
  { name: 'array of objects', schema: { type: 'array', minItems: 1, maxItems: 32, items: { type: 'object', properties: { n: { type: 'integer', minimum: 0, maximum: 9 }, s: { type: 'string' } }, required: ['n'] } } },
  { name: 'worst for Ajv', schema: worstAllowedSchema() },
];

/**
 * The costliest schema for Ajv's compile that the limits allow (anyOf branches of objects with
 * ranges and patterns, up to the subschema limit); distinct per salt so caches do not hide it.
 */
export function worstAllowedSchema(salt = 0): JsonSchema {
  const branch = (index: number) => ({
    type: 'object',
    properties: fields(6, (field) => (field % 2 ? { type: 'integer', minimum: field, maximum: 100 + index + salt } : { type: 'string', pattern: `^[a-z]{0,4}(x|y)?[0-9]{${field}}$` })),
    required: ['f0', 'f1'],
  });
  return { type: 'object', properties: fields(2, () => ({ anyOf: many(schemaLimits.maxBranches, branch) })) };
}
