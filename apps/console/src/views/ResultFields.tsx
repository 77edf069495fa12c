import type { ResultLine } from '../types';

type Fields = Record<string, unknown>;

function isPlainObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function scalar(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Name/value pairs; nested objects as their own list, arrays of scalars inline. */
function FieldList({ fields, label }: { fields: Fields; label: string }) {
  return (
    <dl class="fields" aria-label={label}>
      {Object.entries(fields).map(([name, value]) => (
        <div class="field" key={name}>
          <dt>{name}</dt>
          <dd>{isPlainObject(value) ? <FieldList fields={value} label={name} /> : Array.isArray(value) && value.some(isPlainObject) ? <Rows rows={value} label={name} /> : scalar(value)}</dd>
        </div>
      ))}
    </dl>
  );
}

/** An array of objects (invoice line items) as a table. */
function Rows({ rows, label }: { rows: unknown[]; label: string }) {
  const columns = [...new Set(rows.flatMap((row) => (isPlainObject(row) ? Object.keys(row) : [])))];
  return (
    <table class="rows" aria-label={label}>
      <thead>
        <tr>{columns.map((column) => <th key={column} scope="col">{column}</th>)}</tr>
      </thead>
      <tbody>
        {rows.map((row, index) => (
          <tr key={index}>{columns.map((column) => <td key={column}>{isPlainObject(row) && row[column] !== undefined ? scalar(row[column]) : ''}</td>)}</tr>
        ))}
      </tbody>
    </table>
  );
}

/** Dominant colours of the inspect task as swatches with their hex and share. */
function Colours({ colours }: { colours: unknown }) {
  if (!Array.isArray(colours)) return null;
  return (
    <ul class="swatches" aria-label="Dominant colours">
      {colours.filter(isPlainObject).map((colour) => (
        <li key={String(colour.hex)}>
          <span class="swatch" style={{ background: String(colour.hex) }} aria-hidden="true" />
          {String(colour.hex)} {typeof colour.share === 'number' ? `${Math.round(colour.share * 100)} %` : ''}
        </li>
      ))}
    </ul>
  );
}

/**
 * A result's fields as a reviewer reads them: a model task's output (tags as chips, attributes,
 * invoice fields and line items) with its warnings; a pixel task's measurements; a failure's code.
 */
export function ResultFields({ line }: { line: ResultLine }) {
  if (line.status === 'failed') {
    return (
      <p class="failure" role="status">
        <strong>{line.error?.code}</strong>: {line.error?.message}
      </p>
    );
  }
  const result = line.result ?? {};
  if (isPlainObject(result.output)) {
    const { tags, ...output } = result.output;
    const warnings = Array.isArray(result.warnings) ? result.warnings.map(String) : [];
    return (
      <div class="result">
        {Array.isArray(tags) && (
          <ul class="chips" aria-label="Tags">
            {tags.map((tag) => <li key={String(tag)}>{String(tag)}</li>)}
          </ul>
        )}
        <FieldList fields={output} label="Fields" />
        {warnings.length > 0 && (
          <ul class="warnings" aria-label="Warnings">
            {warnings.map((warning) => <li key={warning}>⚠ {warning}</li>)}
          </ul>
        )}
        {typeof result.model === 'string' && <p class="muted">model {result.model}</p>}
      </div>
    );
  }
  const { dominantColours, ...measurements } = result;
  return (
    <div class="result">
      <FieldList fields={measurements} label="Fields" />
      <Colours colours={dominantColours} />
    </div>
  );
}

/** One line on a card: the failure code, the tags, or the size and format. */
export function summaryOf(line: ResultLine): string {
  if (line.status === 'failed') return line.error?.code ?? 'failed';
  const result = line.result ?? {};
  if (isPlainObject(result.output)) {
    const { tags, vendor, total, currency } = result.output;
    if (Array.isArray(tags)) return tags.slice(0, 4).map(String).join(', ');
    if (vendor !== undefined) return `${scalar(vendor)} ${scalar(total ?? '')} ${scalar(currency ?? '')}`.trim();
    return Object.keys(result.output).slice(0, 3).join(', ');
  }
  if (typeof result.width === 'number') return `${result.width}×${String(result.height)} ${scalar(result.format ?? '')}`;
  return 'ok';
}
