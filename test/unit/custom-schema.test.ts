import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundSchema, cachedValidator, compileSchema, customTask, withoutPatterns } from '@imagefleet/tasks';
import { acceptedSchemas, hostileSchemas, worstAllowedSchema } from '../helpers/schema-cases.js';

const prompt = 'Describe the image';

test('every hostile custom schema is refused at once, naming its JSON path', () => {
  for (const { name, schema, path } of hostileSchemas) {
    const started = performance.now();
    const problem = customTask.validateOptions({ prompt, schema }) ?? '';
    assert.ok(problem.startsWith(path), `${name}: ${problem || 'accepted'}`);
    assert.ok(performance.now() - started < 1000, `${name} took ${performance.now() - started} ms`);
  }
});

test('the accepted schemas pass, bounded: strings, arrays and objects closed', () => {
  for (const { name, schema } of acceptedSchemas) assert.equal(customTask.validateOptions({ prompt, schema }), undefined, name);
  assert.equal(boundSchema({ type: 'string', maxLength: 100_000 }).maxLength, 256);
  assert.deepEqual(boundSchema({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'boolean' }), { type: 'boolean' });
});

test('a compile that throws is cached: the same error, without compiling again', () => {
  // Bypasses the bounds on purpose: only Ajv judges this one.
  const schema = { type: 'integer', minimum: 'one' };
  const first = (() => { try { cachedValidator(schema); } catch (error) { return error; } return undefined; })();
  const second = (() => { try { cachedValidator(schema); } catch (error) { return error; } return undefined; })();
  assert.ok(first instanceof Error);
  assert.equal(second, first);
  assert.equal(cachedValidator({ type: 'boolean' }), cachedValidator({ type: 'boolean' }));
});

test('the costliest schema the limits allow compiles in bounded time', () => {
  const bounded = boundSchema(worstAllowedSchema(1));
  const started = performance.now();
  compileSchema(bounded);
  const ms = performance.now() - started;
  assert.ok(ms < 1500, `compiled in ${ms} ms`);
});

test("answers to a caller's schema are validated without its patterns: a pattern the limits allow cannot backtrack on the event loop", () => {
  const options = { prompt, schema: { type: 'object', properties: { code: { type: 'string', pattern: `^${'a{0,25}'.repeat(10)}$` } }, required: ['code'] } };
  assert.equal(customTask.validateOptions(options), undefined);
  assert.equal((customTask.schema(options).properties as Record<string, { pattern?: string }>).code!.pattern, options.schema.properties.code.pattern, 'the engine still gets the pattern');
  const validate = cachedValidator(customTask.answerSchema!(customTask.schema(options)));
  const started = performance.now();
  // 40 a's and a b: JavaScript's RegExp takes minutes on this; the grammar never lets the engine write it.
  assert.equal(validate({ code: `${'a'.repeat(40)}b` }), true);
  assert.equal(validate({ code: 7 }), false);
  assert.ok(performance.now() - started < 1000, `validated in ${performance.now() - started} ms`);
  // Data is not rewritten: an enum value with a "pattern" member stays as it is.
  const data = withoutPatterns({ enum: [{ pattern: 'x' }], pattern: '^y$' });
  assert.deepEqual(data, { enum: [{ pattern: 'x' }] });
});
