/** Rows under a header as aligned columns (two spaces apart, no trailing blanks), one line each. */
export function formatTable(columns: readonly string[], rows: readonly string[][]): string {
  const all = [columns, ...rows];
  const widths = columns.map((_, column) => Math.max(...all.map((row) => row[column]!.length)));
  return all.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n') + '\n';
}
