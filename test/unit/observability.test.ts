import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { exportedMetricNames, metricNamesIn } from '../helpers/exported-metrics.js';

const root = new URL('../../../', import.meta.url).pathname;
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');

interface Panel {
  title?: string;
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: { expr: string }[];
}

test('every dashboard panel has a title and a unit, and queries only metrics the code exports', async () => {
  const exported = await exportedMetricNames();
  const dashboard = JSON.parse(read('grafana/dashboards/imagefleet.json')) as { panels: Panel[]; uid: string };
  assert.equal(dashboard.uid, 'imagefleet');
  assert.ok(dashboard.panels.length >= 12);
  const queried = new Set<string>();
  for (const panel of dashboard.panels) {
    assert.ok(panel.title && panel.title.length > 3, 'a panel without a title');
    assert.ok(panel.fieldConfig?.defaults?.unit, `panel "${panel.title}" has no unit`);
    assert.ok(panel.targets && panel.targets.length > 0, `panel "${panel.title}" has no query`);
    for (const target of panel.targets) {
      const names = metricNamesIn(target.expr);
      assert.ok(names.length > 0, `"${panel.title}": no imagefleet metric in ${target.expr}`);
      for (const name of names) {
        assert.ok(exported.has(name), `"${panel.title}" queries ${name}, which the code does not export`);
        queried.add(name);
      }
    }
  }
  // The questions the issue asks the dashboard to answer are all there.
  for (const name of ['imagefleet_jobs_total', 'imagefleet_batch_progress_ratio', 'imagefleet_batch_eta_seconds', 'imagefleet_job_stage_seconds', 'imagefleet_tokens_total', 'imagefleet_engine_slots', 'imagefleet_queue_jobs', 'imagefleet_gpu_utilization_ratio', 'imagefleet_gpu_memory_used_bytes', 'imagefleet_gpu_power_watts', 'imagefleet_gpu_temperature_celsius']) {
    assert.ok(queried.has(name), `no panel shows ${name}`);
  }
  assert.deepEqual(metricNamesIn('histogram_quantile(0.5, sum by (le) (rate(imagefleet_job_stage_seconds_bucket[5m])))'), ['imagefleet_job_stage_seconds']);
});

test('metric names follow Prometheus conventions', async () => {
  for (const [name, { type }] of await exportedMetricNames()) {
    if (!name.startsWith('imagefleet_')) continue;
    if (type === 'counter') assert.match(name, /_total$/, name);
    if (type === 'histogram') assert.match(name, /_seconds$/, name);
    assert.doesNotMatch(name, /_(ms|milliseconds|kb|mb|percent)$/, `${name}: use base units`);
  }
});

test('alert rules and Grafana provisioning refer to real metrics and files', async () => {
  const exported = await exportedMetricNames();
  const alerts = parse(read('deploy/prometheus/alerts.yml')) as { groups: { rules: { alert: string; expr: string; annotations: { summary: string } }[] }[] };
  const rules = alerts.groups.flatMap((group) => group.rules);
  assert.deepEqual(rules.map((rule) => rule.alert).sort(), ['ImagefleetEngineRestarting', 'ImagefleetGpuMemoryNearFull', 'ImagefleetHighErrorRate', 'ImagefleetQueueNotDraining', 'ImagefleetWorkerDown']);
  for (const rule of rules) {
    assert.ok(rule.annotations.summary, rule.alert);
    for (const name of metricNamesIn(rule.expr)) assert.ok(exported.has(name), `${rule.alert} uses ${name}`);
  }
  const provider = parse(read('grafana/provisioning/dashboards/imagefleet.yml')) as { providers: { options: { path: string } }[] };
  assert.equal(provider.providers[0]!.options.path, '/var/lib/grafana/dashboards');
  const compose = read('docker-compose.yml');
  assert.match(compose, /\.\/grafana\/dashboards:\/var\/lib\/grafana\/dashboards/);
});

test('promtool accepts the Prometheus config and the alert rules', (t) => {
  if (spawnSync('promtool', ['--version']).status !== 0) {
    t.skip('promtool is not installed (Debian package prometheus; .ci/run installs it)');
    return;
  }
  execFileSync('promtool', ['check', 'config', `${root}deploy/prometheus/prometheus.yml`], { stdio: 'pipe' });
  execFileSync('promtool', ['check', 'rules', `${root}deploy/prometheus/alerts.yml`], { stdio: 'pipe' });
  const scrape = parse(read('deploy/prometheus/prometheus.yml')) as { scrape_configs: { job_name: string }[] };
  assert.deepEqual(scrape.scrape_configs.map((config) => config.job_name), ['imagefleet-producer', 'imagefleet-worker']);
});
