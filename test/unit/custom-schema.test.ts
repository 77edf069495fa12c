import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundSchema, cachedValidator, compileSchema, customTask } from '@imagefleet/tasks';
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
  const schema = { type: 'string', pattern: '(' };
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
