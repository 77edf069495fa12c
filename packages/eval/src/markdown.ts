import type { EvalReport } from './evaluate.js';

const TAGS_SHOWN = 10;
const CELL_WIDTH = 60;

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

/** A value in a table cell: JSON, shortened, with pipes escaped. */
function cell(value: unknown): string {
  const text = value === null || value === undefined ? '—' : typeof value === 'string' ? value : JSON.stringify(value);
  const short = text.length > CELL_WIDTH ? `${text.slice(0, CELL_WIDTH - 1)}…` : text;
  return short.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(header: string[], rows: unknown[][]): string[] {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`)];
}

/** The report as Markdown: inputs, overall scores, a table per field, the worst fields with examples, and tags. */
export function reportMarkdown(report: EvalReport): string {
  const { inputs, overall } = report;
  const lines = [
    `# Eval: ${report.task}${report.batchId ? ` batch ${report.batchId}` : ''}`,
    '',
    `${inputs.labelled} labelled inputs: ${inputs.answered} answered, ${inputs.failed} failed, ${inputs.missing} without a result (failed and missing inputs count every expected field as missed).`,
    '',
    `**Overall** (micro average over ${report.fields.length} fields): precision ${percent(overall.precision)}, recall ${percent(overall.recall)}, F1 ${percent(overall.f1)}; macro F1 ${percent(overall.macroF1)}.`,
    '',
    ...table(
      ['Field', 'Support', 'Predicted', 'TP', 'FP', 'FN', 'Precision', 'Recall', 'F1'],
      report.fields.map((field) => [field.field, field.support, field.predicted, field.tp, field.fp, field.fn, percent(field.precision), percent(field.recall), percent(field.f1)]),
    ),
    '',
    '## Worst fields',
  ];
  for (const worst of report.worst) {
    lines.push('', `### ${worst.field} (F1 ${percent(worst.f1)})`, '');
    if (worst.examples.length === 0) lines.push('No errors.');
    else lines.push(...table(['Key', 'Expected', 'Got'], worst.examples.map((example) => [example.key, example.expected, example.got])));
  }
  if (report.tags && report.tags.length > 0) {
    lines.push('', `## Tags (the ${Math.min(TAGS_SHOWN, report.tags.length)} with most errors of ${report.tags.length})`, '');
    lines.push(...table(['Tag', 'TP', 'FP', 'FN', 'F1'], report.tags.slice(0, TAGS_SHOWN).map((tag) => [tag.tag, tag.tp, tag.fp, tag.fn, percent(tag.f1)])));
  }
  if (report.notLabelled.length > 0) lines.push('', `Not scored (no label has them): ${report.notLabelled.join(', ')}.`);
  return `${lines.join('\n')}\n`;
}
