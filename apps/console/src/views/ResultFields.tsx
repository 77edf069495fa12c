import type { PageLine, ResultLine } from '../types';

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

/** A model task's output: tags as chips, the other fields (invoice fields, line items), its warnings. */
function ModelOutput({ result }: { result: Fields & { output: Fields } }) {
  const { tags, ...output } = result.output;
  const warnings = Array.isArray(result.warnings) ? result.warnings.map(String) : [];
  return (
    <>
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
    </>
  );
}

/** A document's pages (`result.pages`), in page order, each with its own result or failure. */
function DocumentPages({ pages }: { pages: PageLine[] }) {
  const ordered = [...pages].sort((a, b) => a.page - b.page);
  return (
    <ol class="pages" aria-label="Pages">
      {ordered.map((page) => (
        <li key={page.page} class={`page-${page.status}`}>
          <strong>Page {page.page}</strong>: {summaryOf(page)}
          <ResultFields line={page} />
        </li>
      ))}
    </ol>
  );
}

function documentPages(result: Fields | undefined): PageLine[] | undefined {
  return result && isPlainObject(result.document) && Array.isArray(result.pages) ? (result.pages as PageLine[]) : undefined;
}

/**
 * A result's fields as a reviewer reads them: a model task's output (tags as chips, attributes,
 * invoice fields and line items) with its warnings; a pixel task's measurements; a failure's code;
 * a document's joined output and its pages in order.
 */
export function ResultFields({ line }: { line: ResultLine }) {
  const pages = documentPages(line.result);
  const result = line.result ?? {};
  const failure = line.status === 'failed' && (
    <p class="failure" role="status">
      <strong>{line.error?.code}</strong>: {line.error?.message}
    </p>
  );
  if (pages) {
    return (
      <div class="result">
        {failure}
        {isPlainObject(result.output) && <ModelOutput result={{ ...result, output: result.output }} />}
        <DocumentPages pages={pages} />
      </div>
    );
  }
  if (failure) return failure;
  if (isPlainObject(result.output)) {
    return (
      <div class="result">
        <ModelOutput result={{ ...result, output: result.output }} />
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
  const pages = documentPages(line.result);
  if (pages) return `document, ${pages.length} pages`;
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
