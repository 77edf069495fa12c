import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotGate } from '@imagefleet/engine';
import { UnboundedSchemaError, boundSchema, captionTask, compileSchema, customTask, invoiceTask, taggingTask, type JsonSchema } from '@imagefleet/tasks';

/** Every string bounded (maxLength, pattern, enum), every array maxItems, every object closed. */
function assertBounded(schema: JsonSchema, path = 'schema'): void {
  if ('enum' in schema || 'const' in schema) return;
  switch (schema.type) {
    case 'string':
      assert.ok('maxLength' in schema || 'pattern' in schema, `${path}: unbounded string`);
      if (typeof schema.pattern === 'string') assert.match(schema.pattern, /^\^.*\$$/, `${path}: pattern must be anchored`);
      break;
    case 'array':
      assert.ok(typeof schema.maxItems === 'number', `${path}: array without maxItems`);
      assertBounded(schema.items as JsonSchema, `${path}.items`);
      break;
    case 'object':
      assert.equal(schema.additionalProperties, false, `${path}: open object`);
      for (const [name, inner] of Object.entries(schema.properties as Record<string, JsonSchema>)) assertBounded(inner, `${path}.${name}`);
      break;
    default:
      assert.ok(['number', 'integer', 'boolean'].includes(String(schema.type)), `${path}: type ${String(schema.type)}`);
  }
}

test('the built-in model tasks have bounded schemas that compile', () => {
  for (const task of [taggingTask, invoiceTask, captionTask]) {
    const schema = task.schema({});
    assertBounded(schema, task.name);
    assert.doesNotThrow(() => compileSchema(schema));
    assert.ok(task.maxOutputTokens({}) >= 128);
    assert.ok(task.prompt({}).length > 40);
  }
});

test('tagging: the taxonomy and tag count come from options; bad options are named', () => {
  const schema = taggingTask.schema({ taxonomy: ['shoes', 'hats'], maxTags: 3 }) as { properties: { category: { enum: string[] }; tags: { maxItems: number } } };
  assert.deepEqual(schema.properties.category.enum, ['shoes', 'hats']);
  assert.equal(schema.properties.tags.maxItems, 3);
  assert.match(taggingTask.prompt({ taxonomy: ['shoes', 'hats'] }), /shoes, hats/);
  assert.equal(taggingTask.validateOptions({ taxonomy: ['shoes'], maxTags: 4 }), undefined);
  assert.match(taggingTask.validateOptions({ taxonomy: [] }) ?? '', /options\.taxonomy must be/);
  assert.match(taggingTask.validateOptions({ taxonomy: ['Bad Caps!'] }) ?? '', /options\.taxonomy/);
  assert.match(taggingTask.validateOptions({ maxTags: 99 }) ?? '', /options\.maxTags/);
  assert.match(taggingTask.validateOptions({ colour: 'red' }) ?? '', /options\.colour is not a tagging option/);
  const validate = compileSchema(taggingTask.schema({}));
  assert.ok(validate({ category: 'footwear', title: 'Trail running shoe', attributes: { colour: 'orange', material: 'synthetic' }, tags: ['running', 'trail'] }));
  assert.ok(!validate({ category: 'spaceships', title: 'x', attributes: { colour: 'orange' }, tags: [] }));
});

test('invoice: schema-valid output is checked further and problems become warnings', () => {
  const validate = compileSchema(invoiceTask.schema({}));
  const good = {
    vendor: 'ACME Supplies Ltd', invoiceNumber: 'INV-2026/001', issueDate: '2026-03-01', dueDate: '2026-03-31', currency: 'EUR',
    subtotal: '100.00', tax: '21.00', total: '121.00',
    lineItems: [{ description: 'Widgets', quantity: '4', unitPrice: '25.00', amount: '100.00' }],
  };
  assert.ok(validate(good), JSON.stringify(validate.errors));
  assert.deepEqual(invoiceTask.warnings(good, {}), []);
  const bad = { ...good, issueDate: '2026-02-30', total: '120.00', lineItems: [{ description: 'Widgets', amount: '99.00' }] };
  assert.ok(validate(bad));
  assert.deepEqual(invoiceTask.warnings(bad, {}), [
    'issueDate 2026-02-30 is not a calendar date',
    'subtotal + tax differs from total',
    'line item amounts do not add up to the subtotal',
  ]);
  assert.ok(!validate({ ...good, total: 121 }), 'amounts are decimal strings');
  assert.ok(!validate({ ...good, currency: 'euro' }));
});

test('custom: a schema is bounded before use; one that cannot be bounded is refused naming the path', () => {
  const bounded = boundSchema({
    type: 'object',
    properties: { name: { type: 'string' }, sizes: { type: 'array', items: { type: 'string', maxLength: 9999 } }, code: { type: 'string', pattern: '^[A-Z]{3}$' } },
  });
  assertBounded(bounded);
  assert.equal((bounded.properties as Record<string, JsonSchema>).name!.maxLength, 256);
  assert.equal(((bounded.properties as Record<string, JsonSchema>).sizes!.items as JsonSchema).maxLength, 256);
  assert.equal((bounded.properties as Record<string, JsonSchema>).sizes!.maxItems, 32);
  assert.equal((bounded.properties as Record<string, JsonSchema>).code!.maxLength, undefined);

  const refused: [unknown, RegExp][] = [
    [{ type: 'object', additionalProperties: true, properties: { a: { type: 'string' } } }, /schema\.additionalProperties must be false/],
    [{ type: 'object' }, /schema\.properties must list the object's fields/],
    [{ type: 'array' }, /schema\.items is required/],
    [{ $ref: '#/x' }, /schema\.\$ref is not supported/],
    [{ type: 'object', properties: { a: { type: 'thing' } } }, /schema\.properties\.a\.type "thing" is not a JSON Schema type/],
    [{ type: 'object', properties: { a: {} } }, /schema\.properties\.a needs a "type"/],
    ['string', /schema must be an object/],
  ];
  for (const [schema, message] of refused) assert.throws(() => boundSchema(schema), (error: Error) => error instanceof UnboundedSchemaError && message.test(error.message));
  let deep: JsonSchema = { type: 'string' };
  for (let i = 0; i < 10; i++) deep = { type: 'object', properties: { x: deep } };
  assert.throws(() => boundSchema(deep), /nests deeper than 6 levels/);

  assert.equal(customTask.validateOptions({ prompt: 'Count the apples', schema: { type: 'object', properties: { apples: { type: 'integer' } } } }), undefined);
  assert.match(customTask.validateOptions({ prompt: 'x', schema: { type: 'object' } }) ?? '', /^options\.schema\.properties must list/);
  assert.match(customTask.validateOptions({ schema: { type: 'string' } }) ?? '', /options\.prompt must be/);
  assert.match(customTask.validateOptions({ prompt: 'x' }) ?? '', /options\.schema is required/);
});

test('the slot gate admits at most capacity callers, in order, and can shrink and grow', async () => {
  const gate = new SlotGate(2);
  let inside = 0;
  let most = 0;
  const order: number[] = [];
  const release: (() => void)[] = [];
  const runs = Array.from({ length: 5 }, (_, i) =>
    gate.run(async () => {
      inside += 1;
      most = Math.max(most, inside);
      order.push(i);
      await new Promise<void>((resolve) => release.push(resolve));
      inside -= 1;
    }),
  );
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual([gate.busy, gate.queued], [2, 3]);
  gate.setCapacity(1);
  release.shift()!();
  release.shift()!();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(gate.busy, 1);
  gate.setCapacity(3);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(gate.busy, 3);
  while (release.length) release.shift()!();
  await Promise.all(runs);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(most, 3);
});
