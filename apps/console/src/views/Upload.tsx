import { useEffect, useState } from 'preact/hooks';
import { describeError, getJson, request } from '../api';
import { usePolling } from '../hooks';
import { loadTaskNames } from '../tasks';
import type { JobStatus } from '../types';
import { ModelSelect } from './ModelSelect';
import { ResultFields } from './ResultFields';
import { Thumbnail } from './Thumbnail';

/** POST /v1/images (file, task, model), then the job's state until its result is ready, shown beside the image. */
export function Upload() {
  const [tasks, setTasks] = useState<string[]>(['inspect']);
  const [task, setTask] = useState('inspect');
  const [model, setModel] = useState('');
  const [file, setFile] = useState<File>();
  const [jobId, setJobId] = useState<string>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    loadTaskNames().then(setTasks, () => undefined);
  }, []);
  const submit = async (event: Event) => {
    event.preventDefault();
    if (!file) return;
    setError(undefined);
    setJobId(undefined);
    const form = new FormData();
    form.append('task', task);
    if (model) form.append('model', model);
    form.append('file', file);
    try {
      const answer = (await (await request('/v1/images', { method: 'POST', body: form })).json()) as { jobId: string };
      setJobId(answer.jobId);
    } catch (caught) {
      setError(describeError(caught));
    }
  };
  return (
    <section aria-labelledby="upload-title">
      <h1 id="upload-title">Upload an image</h1>
      <form class="form" onSubmit={submit}>
        <label>Image<input type="file" accept="image/*" required onChange={(event) => setFile(event.currentTarget.files?.[0])} /></label>
        <label>Task
          <select value={task} onChange={(event) => setTask(event.currentTarget.value)}>
            {tasks.map((name) => <option key={name} value={name}>{name}</option>)}
          </select>
        </label>
        <ModelSelect value={model} onChange={setModel} />
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit">Upload</button>
      </form>
      {jobId && <JobResult jobId={jobId} />}
    </section>
  );
}

function JobResult({ jobId }: { jobId: string }) {
  const [finished, setFinished] = useState(false);
  const { data, error } = usePolling(() => getJson<JobStatus>(`/v1/jobs/${encodeURIComponent(jobId)}`), 1000, !finished, [jobId]);
  useEffect(() => {
    if (data?.state === 'completed' || data?.state === 'failed') setFinished(true);
  }, [data?.state]);
  return (
    <div class="job" aria-live="polite">
      <h2>Result</h2>
      {error && <p class="error" role="alert">{describeError(error)}</p>}
      <p>State: <strong data-testid="job-state">{data?.state ?? 'submitted'}</strong></p>
      {finished && data && (
        <div class="detail-body">
          {data.key && <Thumbnail batchId={data.batchId} inputKey={data.key} size="large" />}
          <ResultFields line={{ key: data.key ?? data.id, status: data.state === 'completed' ? 'ok' : 'failed', result: data.result, error: data.error }} />
        </div>
      )}
    </div>
  );
}
