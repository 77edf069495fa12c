/** A request's JSON schema that the fleet refuses; the message starts with the JSON path at fault. */
export class UnboundedSchemaError extends Error {}
