import { getJson } from '../api';
import { formatEta, formatTime, progressOf, stateLabel } from '../format';
import { usePolling } from '../hooks';
import { FINISHED_STATES, type BatchStatus } from '../types';

/** The batches this key may see, newest first, refreshed every 2 s. */
export function BatchList() {
  const { data, error } = usePolling(() => getJson<{ batches: BatchStatus[] }>('/v1/batches?limit=50'), 2000, true, []);
  return (
    <section aria-labelledby="batches-title">
      <div class="heading-row">
        <h1 id="batches-title">Batches</h1>
        <a class="button" href="#/new">New batch</a>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {data && data.batches.length === 0 && <p>No batches yet. <a href="#/new">Submit one</a> or <a href="#/upload">upload an image</a>.</p>}
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
                  <td>{batch.task}</td>
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
    </section>
  );
}
