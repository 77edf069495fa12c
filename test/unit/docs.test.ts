import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
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

test('the README links to the design of record inside the repository, and its links resolve', () => {
  assert.match(readme, /\]\(docs\/architecture\.md\)/);
  for (const [, target] of readme.matchAll(/\]\((?!https?:|#)([^)#\s]+)[^)]*\)/g)) {
    assert.ok(!target!.startsWith('../'), `the README links outside the repository: ${target}`);
    assert.ok(existsSync(new URL(`../../../${target}`, import.meta.url)), `the README links to a missing file: ${target}`);
  }
});

test('every source path docs/architecture.md names exists', () => {
  const architecture = readFileSync(new URL('../../../docs/architecture.md', import.meta.url), 'utf8');
  const paths = [...architecture.matchAll(/`((?:apps|packages)\/[^`\s]+)`/g)].map((match) => match[1]!);
  assert.ok(paths.length > 10, 'the page names the code it describes');
  for (const path of paths) assert.ok(existsSync(new URL(`../../../${path}`, import.meta.url)), `docs/architecture.md names a missing path: ${path}`);
});
