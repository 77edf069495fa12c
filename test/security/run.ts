// npm run security — the hostile-input suite of issue 10: every area module in this folder
// (test/security/<area>.ts exporting runSecurityCases) starts what it needs, sends its inputs and
// returns one row per input; this prints them as one table.
//   npm run security [-- webhook inputs]   only these area modules
// Exit code 1 when any row differs from what was expected, or an area could not run.
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SecurityRow } from './row.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv.slice(2);
const areas = readdirSync(here)
  .filter((name) => name.endsWith('.js') && !['row.js', 'run.js'].includes(name))
  .map((name) => basename(name, '.js'))
  .filter((area) => only.length === 0 || only.includes(area))
  .sort();

const rows: SecurityRow[] = [];
let broken = 0;
for (const area of areas) {
  const started = performance.now();
  try {
    const module = (await import(`./${area}.js`)) as { runSecurityCases(): Promise<SecurityRow[]> };
    const found = await module.runSecurityCases();
    rows.push(...found);
    console.error(`${area}: ${found.length} inputs, ${found.filter((found) => !found.pass).length} unexpected, ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    broken++;
    console.error(`${area}: could not run`, error);
  }
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
console.log('| area | input | expected | observed | |\n| --- | --- | --- | --- | --- |');
for (const found of rows) console.log(`| ${found.area} | ${cell(found.input)} | ${cell(found.expected)} | ${cell(found.observed)} | ${found.pass ? 'ok' : 'UNEXPECTED'} |`);
const unexpected = rows.filter((found) => !found.pass).length;
console.log(`\n${rows.length} inputs, ${unexpected} unexpected${broken ? `, ${broken} area(s) could not run` : ''}`);
process.exit(unexpected > 0 || broken > 0 || rows.length === 0 ? 1 : 0);
