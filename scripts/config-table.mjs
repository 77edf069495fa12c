// The README's configuration table, from the settings spec (packages/core must be built).
//   node scripts/config-table.mjs           print it
//   node scripts/config-table.mjs --write   replace the table in README.md
import { readFileSync, writeFileSync } from 'node:fs';
import { settings } from '../packages/core/dist/index.js';

const rows = ['| Variable | Default | Meaning |', '| --- | --- | --- |'];
for (const spec of Object.values(settings)) {
  rows.push(`| \`${spec.variable}\` | ${spec.default === '' ? '(unset)' : `\`${spec.default}\``} | ${spec.description} |`);
}
const table = rows.join('\n');
if (!process.argv.includes('--write')) {
  console.log(table);
} else {
  const path = new URL('../README.md', import.meta.url);
  const readme = readFileSync(path, 'utf8');
  const start = readme.indexOf('| Variable | Default | Meaning |');
  let end = readme.indexOf('\n\n', start);
  if (start < 0 || end < 0) throw new Error('README has no configuration table to replace');
  writeFileSync(path, readme.slice(0, start) + table + readme.slice(end));
  console.log(`README.md: ${rows.length - 2} settings`);
}
