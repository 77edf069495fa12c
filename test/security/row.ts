/** One hostile (or careless) input of `npm run security`: what was sent, what must happen, what did. */
export interface SecurityRow {
  /** keys, tenancy, schema, webhook, inputs, http */
  area: string;
  input: string;
  expected: string;
  observed: string;
  pass: boolean;
}

/** A row whose observation is compared with the expectation as text. */
export function row(area: string, input: string, expected: string, observed: string): SecurityRow {
  return { area, input, expected, observed, pass: observed === expected };
}
