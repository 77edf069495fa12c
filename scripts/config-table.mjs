// Prints the README's configuration table from the settings spec: node scripts/config-table.mjs
import { settings } from '../packages/core/dist/index.js';

console.log('| Variable | Default | Meaning |\n| --- | --- | --- |');
for (const spec of Object.values(settings)) {
  console.log(`| \`${spec.variable}\` | ${spec.default === '' ? '(unset)' : `\`${spec.default}\``} | ${spec.description} |`);
}
