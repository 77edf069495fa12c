import { useState } from 'preact/hooks';
import { describeError, download, postJson } from '../api';
import { FINISHED_STATES, type BatchStatus } from '../types';

/**
 * Pause, resume, retry failed, cancel and the downloads of one batch. Pause, resume and retry
 * call POST /v1/batches/:id/{pause,resume,retry}; a server without them answers 404, shown as such.
 */
export function BatchActions({ batch, onChange }: { batch: BatchStatus; onChange: () => void }) {
  const [message, setMessage] = useState<string>();
  const [busy, setBusy] = useState(false);
  const path = `/v1/batches/${encodeURIComponent(batch.id)}`;
  const act = async (label: string, work: () => Promise<string>) => {
    setBusy(true);
    try {
      setMessage(await work());
      onChange();
    } catch (error) {
      setMessage(`${label} failed: ${describeError(error)}`);
    } finally {
      setBusy(false);
    }
  };
  const finished = FINISHED_STATES.includes(batch.state);
  return (
    <div class="actions">
      <div class="toolbar" role="toolbar" aria-label="Batch actions">
        {batch.state === 'paused' ? (
          <button type="button" disabled={busy} onClick={() => act('Resume', async () => (await postJson(`${path}/resume`), 'Resumed.'))}>Resume</button>
        ) : (
          <button type="button" disabled={busy || finished} onClick={() => act('Pause', async () => (await postJson(`${path}/pause`), 'Paused.'))}>Pause</button>
        )}
        <button type="button" disabled={busy || batch.failed === 0} onClick={() => act('Retry', async () => `Retrying ${(await postJson<{ retried: number }>(`${path}/retry`)).retried} failed inputs.`)}>
          Retry failed
        </button>
        <button type="button" class="danger" disabled={busy || finished} onClick={() => confirm(`Cancel batch ${batch.id}?`) && act('Cancel', async () => (await postJson(path, undefined, 'DELETE'), 'Cancelled.'))}>
          Cancel
        </button>
        <button type="button" disabled={busy} onClick={() => act('Download', async () => (await download(`${path}/results`, `${batch.id}.jsonl`), 'Downloaded JSONL.'))}>Download JSONL</button>
        <button type="button" disabled={busy} onClick={() => act('Download', async () => (await download(`${path}/results?format=csv`, `${batch.id}.csv`), 'Downloaded CSV.'))}>Download CSV</button>
      </div>
      <p class="message" role="status" aria-live="polite">{message}</p>
    </div>
  );
}
