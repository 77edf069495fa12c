import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson } from '../api';
import { formatEta, formatShare, formatTime, progressOf, stateLabel } from '../format';
import { usePolling } from '../hooks';
import { FINISHED_STATES, type BatchStatus, type ResultLine } from '../types';
import { BatchActions } from './BatchActions';
import { applyFilter, errorCodes, loadResults } from './batch-results';
import { ResultFields, summaryOf } from './ResultFields';
import { Thumbnail } from './Thumbnail';

const PAGE = 60;

/** One batch: its progress (live), actions, and a grid of its results beside their images. */
export function BatchPage({ batchId }: { batchId: string }) {
  const status = usePolling(() => getJson<BatchStatus>(`/v1/batches/${encodeURIComponent(batchId)}`), 1500, true, [batchId]);
  const batch = status.data;
  const running = batch !== undefined && !FINISHED_STATES.includes(batch.state);
  const done = batch ? batch.completed + batch.failed : 0;
  // Results are read again whenever the count of finished inputs, the state or the end moves (a
  // retry can finish between two polls with the same count).
  const results = usePolling(() => loadResults(batchId), 0, false, [batchId, done, batch?.state, batch?.finishedAt]);
  const [filter, setFilter] = useState('all');
  const [shown, setShown] = useState(PAGE);
  const [open, setOpen] = useState<ResultLine>();
  if (status.error && !batch) return <p class="error" role="alert">{status.error}</p>;
  if (!batch) return <p aria-busy="true">Loading…</p>;
  const lines = results.data ?? [];
  const visible = applyFilter(lines, filter);
  return (
    <section aria-labelledby="batch-title">
      <h1 id="batch-title">Batch {batch.id}</h1>
      <dl class="summary">
        <div><dt>Task</dt><dd>{batch.task}</dd></div>
        <div><dt>State</dt><dd class={`state state-${batch.state}`} data-testid="batch-state">{stateLabel(batch.state)}</dd></div>
        <div><dt>Progress</dt><dd><progress value={progressOf(batch)} max={1} aria-label="Batch progress" /> {done} / {batch.total}</dd></div>
        <div><dt>Completed</dt><dd>{batch.completed}</dd></div>
        <div><dt>Failed</dt><dd>{batch.failed}</dd></div>
        <div><dt>Skipped</dt><dd>{batch.skipped}</dd></div>
        <div><dt>ETA</dt><dd>{running ? formatEta(batch.eta) : '—'}</dd></div>
        <div><dt>Created</dt><dd>{formatTime(batch.createdAt)}</dd></div>
        <div><dt>Priority</dt><dd>{batch.priority}</dd></div>
        <div><dt>Model</dt><dd>{batch.model ?? 'any worker'}</dd></div>
        <div><dt>Cached</dt><dd data-testid="batch-cached">{batch.cached ?? 0} ({formatShare(batch.cacheHitRate ?? 0)} hit rate)</dd></div>
        {(batch.documents ?? 0) > 0 && <div><dt>Documents</dt><dd data-testid="batch-documents">{batch.documents} ({batch.pages} pages)</dd></div>}
        {batch.detail && <div class="wide"><dt>Waiting</dt><dd>{batch.detail}</dd></div>}
      </dl>
      <BatchActions batch={batch} onChange={status.refresh} />
      <h2>Results</h2>
      <label>
        Show{' '}
        <select value={filter} onChange={(event) => (setFilter(event.currentTarget.value), setShown(PAGE))}>
          <option value="all">All ({lines.length})</option>
          <option value="ok">OK ({lines.filter((line) => line.status === 'ok').length})</option>
          <option value="failed">Failed ({lines.filter((line) => line.status === 'failed').length})</option>
          {errorCodes(lines).map(([code, count]) => (
            <option key={code} value={`code:${code}`}>Failed: {code} ({count})</option>
          ))}
        </select>
      </label>
      {results.error && <p class="error" role="alert">{results.error}</p>}
      <ul class="grid" aria-label="Results">
        {visible.slice(0, shown).map((line) => (
          // Keyed by status too: a retried input gets a fresh card (and thumbnail).
          <li key={`${line.status}:${line.key}`}>
            <button type="button" class={`card card-${line.status}`} onClick={() => setOpen(line)} aria-label={`Open result ${line.key}`}>
              <Thumbnail batchId={batch.id} inputKey={line.key} />
              <span class="card-key">{line.key}{line.cached && <span class="badge"> cached</span>}</span>
              <span class="card-summary">{summaryOf(line)}</span>
            </button>
          </li>
        ))}
      </ul>
      {visible.length > shown && <button type="button" onClick={() => setShown(shown + PAGE)}>Show more ({visible.length - shown} left)</button>}
      {open && <ResultDialog batchId={batch.id} line={open} onClose={() => setOpen(undefined)} />}
    </section>
  );
}

/** A result beside its image, in a modal dialog (focus stays inside; Escape closes it). */
function ResultDialog({ batchId, line, onClose }: { batchId: string; line: ResultLine; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog ref={dialog} class="detail" aria-labelledby="detail-title" onClose={onClose}>
      <h2 id="detail-title">{line.key}</h2>
      {line.cached && <p class="muted">From the result cache{line.cachedFrom ? ` (computed by batch ${line.cachedFrom.batchId})` : ''}.</p>}
      <div class="detail-body">
        <Thumbnail batchId={batchId} inputKey={line.key} size="large" />
        <ResultFields line={line} />
      </div>
      <details>
        <summary>JSON</summary>
        <pre>{JSON.stringify(line, null, 2)}</pre>
      </details>
      <form method="dialog">
        <button type="submit" autofocus>Close</button>
      </form>
    </dialog>
  );
}
