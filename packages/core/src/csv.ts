import type { ResultLine, SkippedLine } from './schemas.js';

function flatten(value: unknown, prefix: string, into: Record<string, string>): void {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, into);
  } else if (value !== undefined) {
    into[prefix] = typeof value === 'string' ? value : JSON.stringify(value);
  }
}

export function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function row(line: ResultLine | SkippedLine): Record<string, string> {
  const cells: Record<string, string> = { key: line.key, status: line.status };
  if (line.status === 'skipped') {
    cells.skip_reason = line.reason;
    return cells;
  }
  if (line.error) {
    cells.error_code = line.error.code;
    cells.error_message = line.error.message;
  }
  flatten(line.result, 'result', cells);
  return cells;
}

/**
 * Result lines as CSV: key, status, error columns, then result fields flattened with dots
 * (arrays as JSON). Columns come from the first `lookahead` lines; later lines fill those columns.
 */
export async function* toCsv(lines: AsyncIterable<string>, lookahead = 200): AsyncGenerator<string> {
  const head: Record<string, string>[] = [];
  const iterator = lines[Symbol.asyncIterator]();
  for (let next = await iterator.next(); ; next = await iterator.next()) {
    if (next.done) break;
    head.push(row(JSON.parse(next.value) as ResultLine | SkippedLine));
    if (head.length >= lookahead) break;
  }
  const columns = ['key', 'status', 'error_code', 'error_message'];
  for (const cells of head) for (const column of Object.keys(cells)) if (!columns.includes(column)) columns.push(column);
  const format = (cells: Record<string, string>) => `${columns.map((column) => csvCell(cells[column] ?? '')).join(',')}\n`;
  yield `${columns.join(',')}\n`;
  for (const cells of head) yield format(cells);
  if (head.length < lookahead) return;
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield format(row(JSON.parse(next.value) as ResultLine | SkippedLine));
}
