import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { settings } from '@imagefleet/core';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

test('the README configuration table lists every setting with its default', () => {
  for (const spec of Object.values(settings)) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${spec.variable}\` |`));
    assert.ok(row, `README has no row for ${spec.variable}`);
    assert.ok(row.includes(spec.default === '' ? '(unset)' : `\`${spec.default}\``), `README default of ${spec.variable} is stale`);
  }
});

test('the README starts with the two commands, and .ci/run calls the test one', () => {
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  assert.match(firstBlock, /^npm install && npm run demo/m);
  assert.match(firstBlock, /^npm test/m);
  assert.match(readFileSync(new URL('../../../.ci/run', import.meta.url), 'utf8'), /^npm test$/m);
});
