import { useEffect, useState } from 'preact/hooks';
import { describeError, postJson } from '../api';
import { loadTaskNames } from '../tasks';
import { ModelSelect } from './ModelSelect';

type SourceKind = 'local' | 's3' | 'keys';

function sourceOf(kind: SourceKind, fields: { path: string; bucket: string; prefix: string; keys: string }): unknown {
  if (kind === 'local') return { local: { path: fields.path.trim() } };
  if (kind === 's3') return { s3: { bucket: fields.bucket.trim(), prefix: fields.prefix.trim() } };
  return { bucket: fields.bucket.trim(), keys: fields.keys.split('\n').map((key) => key.trim()).filter(Boolean) };
}

/** POST /v1/batches from a form: task, source (folder, S3 prefix or key list), options (JSON), model, priority. */
export function NewBatch() {
  const [tasks, setTasks] = useState<string[]>(['inspect']);
  const [task, setTask] = useState('inspect');
  const [kind, setKind] = useState<SourceKind>('local');
  const [fields, setFields] = useState({ path: '', bucket: '', prefix: '', keys: '' });
  const [options, setOptions] = useState('{}');
  const [model, setModel] = useState('');
  const [priority, setPriority] = useState('1');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    loadTaskNames().then(setTasks, () => undefined);
  }, []);
  const field = (name: keyof typeof fields) => ({ value: fields[name], onInput: (event: Event) => setFields({ ...fields, [name]: (event.currentTarget as HTMLInputElement).value }) });
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    let parsedOptions: unknown;
    try {
      parsedOptions = JSON.parse(options || '{}');
    } catch {
      setError('Options must be JSON, e.g. {"maxTags": 8}');
      return;
    }
    setBusy(true);
    try {
      const body = { task, source: sourceOf(kind, fields), options: parsedOptions, priority: Number(priority), ...(model ? { model } : {}) };
      const { batchId } = await postJson<{ batchId: string }>('/v1/batches', body);
      location.hash = `#/batches/${encodeURIComponent(batchId)}`;
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="new-title">
      <h1 id="new-title">New batch</h1>
      <form class="form" onSubmit={submit}>
        <label>Task
          <select value={task} onChange={(event) => setTask(event.currentTarget.value)}>
            {tasks.map((name) => <option key={name} value={name}>{name}</option>)}
          </select>
        </label>
        <fieldset>
          <legend>Source</legend>
          <label><input type="radio" name="kind" checked={kind === 'local'} onChange={() => setKind('local')} /> Folder on the server</label>
          <label><input type="radio" name="kind" checked={kind === 's3'} onChange={() => setKind('s3')} /> S3 prefix</label>
          <label><input type="radio" name="kind" checked={kind === 'keys'} onChange={() => setKind('keys')} /> S3 key list</label>
        </fieldset>
        {kind === 'local' && <label>Folder path<input {...field('path')} required placeholder="/data/photos" /></label>}
        {kind !== 'local' && <label>Bucket<input {...field('bucket')} required /></label>}
        {kind === 's3' && <label>Prefix<input {...field('prefix')} placeholder="photos/2026/" /></label>}
        {kind === 'keys' && <label>Keys, one per line<textarea {...field('keys')} required rows={5} /></label>}
        <label>Options (JSON)<textarea value={options} onInput={(event) => setOptions(event.currentTarget.value)} rows={3} /></label>
        <ModelSelect value={model} onChange={setModel} />
        <label>Priority (1-10)<input type="number" min={1} max={10} value={priority} onInput={(event) => setPriority(event.currentTarget.value)} /></label>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>Submit batch</button>
      </form>
    </section>
  );
}
