import { getJson } from '../api';
import { usePolling } from '../hooks';
import type { FleetModel } from '../types';

/**
 * The model field of the new-batch and upload forms: the models the fleet serves (GET /v1/models,
 * read again every 5 s, so a worker that starts later shows up), or any worker.
 */
export function ModelSelect({ value, onChange }: { value: string; onChange: (model: string) => void }) {
  const { data } = usePolling(() => getJson<{ models: FleetModel[] }>('/v1/models'), 5000, true, []);
  return (
    <label>Model
      <select value={value} onChange={(event) => onChange(event.currentTarget.value)}>
        <option value="">Any worker</option>
        {(data?.models ?? []).map((entry) => <option key={entry.modelId} value={entry.modelId}>{entry.modelId} ({entry.totals.workers} workers)</option>)}
      </select>
    </label>
  );
}
