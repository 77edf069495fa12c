// Writes grafana/dashboards/imagefleet.json from the panel list below: node scripts/make-dashboard.mjs
// Every panel answers one operator question; test/unit/observability.test.ts checks each query
// against the metrics the code exports and that every panel has a title and a unit.
import { writeFileSync } from 'node:fs';

const panels = [
  ['Throughput (images/s)', 'ops', [['sum by (task) (rate(imagefleet_jobs_total[1m]))', '{{task}}']], 'How fast are batches going?'],
  ['Batch progress', 'percentunit', [['imagefleet_batch_progress_ratio', '{{batch}} {{task}}']], 'How far along is each running batch?'],
  ['Batch ETA', 's', [['imagefleet_batch_eta_seconds', '{{batch}}']], 'When will each running batch finish?'],
  ['Stage latency p50', 's', [['histogram_quantile(0.5, sum by (le, stage) (rate(imagefleet_job_stage_seconds_bucket[5m])))', '{{stage}}']], 'Where is the time spent, typically?'],
  ['Stage latency p95', 's', [['histogram_quantile(0.95, sum by (le, stage) (rate(imagefleet_job_stage_seconds_bucket[5m])))', '{{stage}}']], 'Where is the time spent, for slow jobs?'],
  ['Stage latency p99', 's', [['histogram_quantile(0.99, sum by (le, stage) (rate(imagefleet_job_stage_seconds_bucket[5m])))', '{{stage}}']], 'Where is the time spent, worst case?'],
  ['Errors by code', 'ops', [['sum by (outcome) (rate(imagefleet_jobs_total{outcome!="ok"}[5m]))', '{{outcome}}']], 'What fails, and why?'],
  ['Tokens per second', 'short', [
    ['sum by (engine, direction) (rate(imagefleet_engine_tokens_total[1m]))', '{{engine}} {{direction}}'],
    ['sum by (task, direction) (rate(imagefleet_tokens_total[1m]))', '{{task}} {{direction}}'],
  ], 'How hard is the model working, per engine and per task (prompt incl. image tokens, generation)?'],
  ['Engine slots: busy vs planned', 'short', [
    ['sum by (kind) (imagefleet_engine_slots)', '{{kind}}'],
    ['sum by (engine) (imagefleet_engine_info)', 'workers on {{engine}}'],
  ], 'Is the model kept busy, and is it throttled (allowed < planned)? Which engine do the workers run?'],
  ['KV cache in use', 'percentunit', [['imagefleet_engine_kv_cache_usage_ratio', '{{engine}} {{instance}}']], 'How full is llama-server\'s KV cache with the requests in flight?'],
  ['Engine restarts and OOM back-offs', 'short', [
    ['sum(increase(imagefleet_engine_restarts_total[5m]))', 'restarts'],
    ['sum(increase(imagefleet_engine_oom_backoffs_total[5m]))', 'OOM back-offs'],
  ], 'Is the engine crashing or running out of memory?'],
  ['Queue depth', 'short', [['sum by (queue, state) (imagefleet_queue_jobs{state=~"wait|active|delayed|prioritized"})', '{{queue}} {{state}}']], 'Is work piling up?'],
  ['GPU utilisation', 'percentunit', [['imagefleet_gpu_utilization_ratio', 'GPU {{gpu}} {{name}}']], 'Are the GPUs busy?'],
  ['GPU memory used', 'bytes', [
    ['imagefleet_gpu_memory_used_bytes', 'used GPU {{gpu}}'],
    ['imagefleet_gpu_memory_total_bytes', 'total GPU {{gpu}}'],
  ], 'How full is GPU memory?'],
  ['GPU power', 'watt', [['imagefleet_gpu_power_watts', 'GPU {{gpu}}']], 'How much power do the GPUs draw?'],
  ['GPU temperature', 'celsius', [['imagefleet_gpu_temperature_celsius', 'GPU {{gpu}}']], 'Are the GPUs too hot?'],
];

const dashboard = {
  uid: 'imagefleet',
  title: 'imagefleet',
  tags: ['imagefleet'],
  timezone: 'browser',
  schemaVersion: 39,
  version: 1,
  refresh: '10s',
  time: { from: 'now-1h', to: 'now' },
  templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', current: { text: 'Prometheus', value: 'prometheus' } }] },
  panels: panels.map(([title, unit, targets, description], index) => ({
    id: index + 1,
    type: 'timeseries',
    title,
    description,
    datasource: { type: 'prometheus', uid: '${datasource}' },
    gridPos: { x: (index % 3) * 8, y: Math.floor(index / 3) * 8, w: 8, h: 8 },
    fieldConfig: { defaults: { unit, min: 0 }, overrides: [] },
    options: { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
    targets: targets.map(([expr, legendFormat], target) => ({ refId: String.fromCharCode(65 + target), expr, legendFormat })),
  })),
};
writeFileSync(new URL('../grafana/dashboards/imagefleet.json', import.meta.url), `${JSON.stringify(dashboard, null, 2)}\n`);
console.log(`grafana/dashboards/imagefleet.json: ${panels.length} panels`);
