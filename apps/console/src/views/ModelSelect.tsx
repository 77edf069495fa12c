import { useEffect, useState } from 'preact/hooks';
import { getJson } from '../api';
import type { FleetModel } from '../types';

/** The model field of the new-batch and upload forms: the models the fleet serves (GET /v1/models), or any worker. */
export function ModelSelect({ value, onChange }: { value: string; onChange: (model: string) => void }) {
  const [models, setModels] = useState<FleetModel[]>([]);
  useEffect(() => {
    getJson<{ models: FleetModel[] }>('/v1/models').then((answer) => setModels(answer.models), () => undefined);
  }, []);
  return (
    <label>Model
      <select value={value} onChange={(event) => onChange(event.currentTarget.value)}>
        <option value="">Any worker</option>
        {models.map((entry) => <option key={entry.modelId} value={entry.modelId}>{entry.modelId} ({entry.totals.workers} workers)</option>)}
      </select>
    </label>
  );
}
