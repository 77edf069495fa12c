/**
 * The one place the limits on a custom task's JSON schema live (the README's "Custom schemas"
 * table is this list). Every limit keeps three costs bounded: the grammar llama.cpp builds from
 * the schema for each request (its parser refuses a repetition above 2,000 and needs seconds for
 * a 20,000-branch union), Ajv's compile on the worker's and the API's main thread, and the
 * answer the model must produce before it can close the JSON.
 */
export interface SchemaLimits {
  /** Bytes of the schema as JSON. */
  maxSchemaBytes: number;
  /** Nesting of objects, arrays and unions. */
  maxDepth: number;
  /** Subschemas in the whole schema (every object property, array item and union branch is one). */
  maxNodes: number;
  /** Properties of one object. */
  maxProperties: number;
  /** Characters of one property name. */
  maxPropertyNameLength: number;
  /** Values of one enum. */
  maxEnumValues: number;
  /** Bytes (as JSON) of all enum and const values of the schema together. */
  maxEnumBytes: number;
  /** Branches of one anyOf or oneOf. */
  maxBranches: number;
  /** anyOf and oneOf branches in the whole schema. */
  maxTotalBranches: number;
  /** Largest maxLength of a string (also its default); minLength may not exceed it. */
  maxStringLength: number;
  /** Largest maxItems of an array (also its default); minItems may not exceed it. */
  maxItems: number;
  /** Characters of one pattern. */
  maxPatternLength: number;
  /** Grammar elements one pattern may expand to (each quantifier multiplies what it repeats). */
  maxPatternCost: number;
}

export const schemaLimits: SchemaLimits = {
  maxSchemaBytes: 32 * 1024,
  maxDepth: 6,
  maxNodes: 256,
  maxProperties: 64,
  maxPropertyNameLength: 64,
  maxEnumValues: 256,
  maxEnumBytes: 16 * 1024,
  maxBranches: 16,
  maxTotalBranches: 32,
  maxStringLength: 256,
  maxItems: 32,
  maxPatternLength: 256,
  maxPatternCost: 1000,
};

/** string formats both llama.cpp builds of the fleet turn into a grammar (others would be any string). */
export const SUPPORTED_FORMATS = ['date', 'time', 'date-time', 'uuid'] as const;
