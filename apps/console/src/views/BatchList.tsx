import { useState } from 'preact/hooks';
import { getJson } from '../api';
import { formatEta, formatTime, progressOf, stateLabel } from '../format';
import { usePolling } from '../hooks';
import { BATCH_STATES, FINISHED_STATES, type BatchPageAnswer, type BatchStatus } from '../types';

export const BATCH_PAGE_SIZE = 10;

/**
 * The first `pages` pages of GET /v1/batches (the `next` cursor of each page asks for the one
 * after it), so the rows already loaded stay live; a batch met twice (the list moved) shows once.
 */
async function loadPages(state: string, pages: number): Promise<{ batches: BatchStatus[]; more: boolean }> {
  const batches = new Map<string, BatchStatus>();
  let cursor: string | null = null;
  for (let page = 0; page < pages; page++) {
    const query = new URLSearchParams({ limit: String(BATCH_PAGE_SIZE) });
    if (state) query.set('state', state);
    if (cursor) query.set('cursor', cursor);
    const answer: BatchPageAnswer = await getJson<BatchPageAnswer>(`/v1/batches?${query}`);
    for (const batch of answer.batches) if (!batches.has(batch.id)) batches.set(batch.id, batch);
    cursor = answer.next;
    if (cursor === null) break;
  }
  return { batches: [...batches.values()], more: cursor !== null };
}

/** The batches this key may see, newest first, filterable by state, a page more on request; refreshed every 2 s. */
export function BatchList() {
  const [state, setState] = useState('');
  const [pages, setPages] = useState(1);
  const { data, error } = usePolling(() => loadPages(state, pages), 2000, true, [state, pages]);
  return (
    <section aria-labelledby="batches-title">
      <div class="heading-row">
        <h1 id="batches-title">Batches</h1>
        <a class="button" href="#/new">New batch</a>
      </div>
      <div class="filters">
        <label>
          State{' '}
          <select value={state} onChange={(event) => (setState(event.currentTarget.value), setPages(1))}>
            <option value="">All states</option>
            {BATCH_STATES.map((name) => <option key={name} value={name}>{stateLabel(name)}</option>)}
          </select>
        </label>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {data && data.batches.length === 0 && (state ? <p>No {stateLabel(state)} batches.</p> : <p>No batches yet. <a href="#/new">Submit one</a> or <a href="#/upload">upload an image</a>.</p>)}
      {data && data.batches.length > 0 && (
        <div class="table-scroll">
          <table class="batches">
            <caption class="visually-hidden">Batches, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Batch</th>
                <th scope="col">Task</th>
                <th scope="col">State</th>
                <th scope="col">Progress</th>
                <th scope="col">ETA</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {data.batches.map((batch) => (
                <tr key={batch.id}>
                  <td><a href={`#/batches/${encodeURIComponent(batch.id)}`}>{batch.id}</a></td>
                  <td>{batch.task}{batch.model && <span class="muted"> · {batch.model}</span>}</td>
                  <td><span class={`state state-${batch.state}`}>{stateLabel(batch.state)}</span></td>
                  <td>
                    <progress value={progressOf(batch)} max={1} aria-label={`Progress of ${batch.id}`} /> {batch.completed + batch.failed}/{batch.total}
                    {batch.failed > 0 && <span class="failed-count"> ({batch.failed} failed)</span>}
                  </td>
                  <td>{FINISHED_STATES.includes(batch.state) ? '—' : formatEta(batch.eta)}</td>
                  <td>{formatTime(batch.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data?.more && <button type="button" onClick={() => setPages(pages + 1)}>Load more</button>}
    </section>
  );
}
