import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import { createJobBackend, VLM_QUEUE, type QueueCountState } from '@imagefleet/jobs';
import { loadConfig } from '@imagefleet/core';
import { deleteRedisPrefix, startServices, type TestServices } from '../helpers/services.js';

const root = new URL('../../../', import.meta.url).pathname;
type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown>; data?: Record<string, string> };
const manifests: Manifest[] = readdirSync(`${root}deploy/k8s`)
  .filter((name) => name.endsWith('.yaml'))
  .flatMap((name) => parseAllDocuments(readFileSync(`${root}deploy/k8s/${name}`, 'utf8')).map((document) => document.toJSON() as Manifest));
const find = (kind: string, name: string) => manifests.find((manifest) => manifest.kind === kind && manifest.metadata.name === name)!;

let services: TestServices;
before(async () => {
  services = await startServices();
});
after(async () => services?.stop());

test('docker-compose.yml validates, with the cpu profile too', (t) => {
  const probe = spawnSync('docker-compose', ['version', '--short']);
  if (probe.status !== 0) {
    t.skip('docker-compose is not installed (Debian package docker-compose; .ci/run installs it)');
    return;
  }
  for (const profile of [[], ['--profile', 'cpu']]) {
    const result = spawnSync('docker-compose', ['--env-file', '.env.example', '-f', 'docker-compose.yml', ...profile, 'config', '-q'], { cwd: root, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
  }
});

test('the compose stack: durable Redis, a maintained S3 server with buckets, GPU and CPU workers, provisioned Grafana', () => {
  const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8')) as { services: Record<string, Record<string, unknown>> };
  const services = compose.services;
  assert.deepEqual(Object.keys(services).sort(), ['create-buckets', 'grafana', 'producer', 'prometheus', 'redis', 's3', 'worker-cpu', 'worker-gpu']);
  const redisCommand = (services.redis!.command as string[]).join(' ');
  assert.match(redisCommand, /--appendonly yes/);
  assert.match(redisCommand, /--maxmemory-policy noeviction/);
  assert.ok(services.redis!.healthcheck);
  assert.doesNotMatch(String(services.s3!.image), /minio/);
  assert.match(String((services['create-buckets']!.command as string[])[0]), /s3 mb/);
  const gpu = services['worker-gpu'] as { deploy: { resources: { reservations: { devices: { driver: string; capabilities: string[] }[] } } }; volumes: string[]; stop_grace_period: string };
  assert.equal(gpu.deploy.resources.reservations.devices[0]!.driver, 'nvidia');
  assert.match(gpu.volumes[0]!, /:\/models$/);
  assert.deepEqual(services['worker-cpu']!.profiles, ['cpu']);
  assert.equal((services.grafana!.environment as Record<string, string>).GF_SECURITY_ADMIN_PASSWORD, '${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD in .env}');
  for (const file of ['deploy/docker/Dockerfile', 'deploy/docker/Dockerfile.gpu']) {
    const dockerfile = readFileSync(`${root}${file}`, 'utf8');
    assert.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, `${file} is not multi-stage`);
    assert.match(dockerfile, /^USER (node|imagefleet)$/m, `${file} runs as root`);
    assert.match(dockerfile, /node:24/);
  }
  assert.match(readFileSync(`${root}deploy/docker/Dockerfile.gpu`, 'utf8'), /^FROM nvidia\/cuda:12[.\d]*-runtime/m);
});

// Dockerfile stages: continuation lines joined, split at each FROM, with the stage's name (AS x).
function dockerStages(file: string): { name: string | undefined; from: string; body: string }[] {
  const text = readFileSync(`${root}${file}`, 'utf8').replace(/\\\n/g, ' ');
  return text.split(/^(?=FROM )/m).filter((part) => part.startsWith('FROM ')).map((body) => {
    const [, from, name] = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(body)!;
    return { name, from: from!, body };
  });
}

test('both images build llama-server from the bundled llama.cpp source and make it the workers\' engine', () => {
  for (const file of ['deploy/docker/Dockerfile', 'deploy/docker/Dockerfile.gpu']) {
    const stages = dockerStages(file);
    const llama = stages.filter((stage) => /--target llama-server\b/.test(stage.body));
    assert.equal(llama.length, 1, `${file}: one stage builds llama-server`);
    const stage = llama[0]!;
    assert.ok(stage.name, `${file}: the llama-server stage is named`);
    // The source: node-llama-cpp's git bundle, out of the stage that runs npm install (nothing downloaded).
    const nodeStage = stages.find((candidate) => /npm install/.test(candidate.body))!;
    assert.match(stage.body, new RegExp(`^COPY --from=${nodeStage.name} /app/node_modules/node-llama-cpp/llama/gitRelease\\.bundle `, 'm'), `${file}: bundle copied from the npm stage`);
    assert.match(stage.body, /git clone .*gitRelease\.bundle/, `${file}: clones the bundle`);
    for (const flag of ['-DLLAMA_USE_PREBUILT_UI=OFF', '-DLLAMA_BUILD_UI=OFF', '-DLLAMA_CURL=OFF', '-DGGML_NATIVE=OFF', '-DLLAMA_BUILD_TESTS=OFF']) {
      assert.ok(stage.body.includes(flag), `${file}: ${flag}`);
    }
    assert.doesNotMatch(stage.body, /-DGGML_NATIVE=ON/, `${file}: a native build only runs on the build machine's CPU`);
    if (file.endsWith('.gpu')) {
      assert.match(stage.from, /^nvidia\/cuda:12[.\d]*-devel-/, `${file}: CUDA devel base`);
      assert.ok(stage.body.includes('-DGGML_CUDA=ON'), `${file}: GGML_CUDA=ON`);
      assert.ok(stage.body.includes('-DBUILD_SHARED_LIBS=OFF'), `${file}: static llama.cpp`);
      // The architecture list, directly or through an ARG's default.
      let archs = /-DCMAKE_CUDA_ARCHITECTURES=([^"\s]+)/.exec(stage.body)?.[1];
      assert.ok(archs, `${file}: CMAKE_CUDA_ARCHITECTURES is set`);
      const argName = /^\$\{?(\w+)\}?$/.exec(archs)?.[1];
      if (argName) archs = new RegExp(`^ARG ${argName}="?([^"\n]+)"?$`, 'm').exec(stage.body)?.[1];
      const entries = (archs ?? '').split(';');
      for (const sm of ['75', '80', '86', '89', '90']) {
        assert.ok(entries.some((entry) => entry === sm || entry === `${sm}-real`), `${file}: device code for sm_${sm} in ${archs}`);
      }
      assert.ok(entries.some((entry) => /^\d+(-virtual)?$/.test(entry) && Number.parseInt(entry, 10) >= 90), `${file}: PTX (a virtual architecture) for newer GPUs in ${archs}`);
    } else {
      // Runtime CPU feature selection: every x86-64 variant of the CPU backend, loaded as a module.
      for (const flag of ['-DGGML_BACKEND_DL=ON', '-DGGML_CPU_ALL_VARIANTS=ON', '-DBUILD_SHARED_LIBS=ON']) assert.ok(stage.body.includes(flag), `${file}: ${flag}`);
      assert.match(stage.body, /cp -P \S+\/bin\/\*\.so\* \/opt\/llama\/bin/, `${file}: the backend modules go beside the binary`);
    }
    const runtime = stages.at(-1)!;
    assert.match(runtime.body, new RegExp(`^COPY --from=${stage.name} /opt/llama /opt/llama$`, 'm'), `${file}: runtime gets the build`);
    const env = [...runtime.body.matchAll(/^ENV (.+)$/gm)].map((match) => match[1]).join(' ');
    assert.match(env, /(^|\s)LLAMA_SERVER_BIN=\/opt\/llama\/bin\/llama-server(\s|$)/, `${file}: LLAMA_SERVER_BIN`);
    assert.match(env, /(^|\s)ENGINE=server(\s|$)/, `${file}: ENGINE=server`);
    assert.match(runtime.body, /libgomp1/, `${file}: llama-server's OpenMP runtime`);
  }

  // Compose: both workers run ENGINE=server (a .env may override it; .env.example keeps server).
  const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8')) as { services: Record<string, { environment: Record<string, string> }> };
  for (const name of ['worker-gpu', 'worker-cpu']) {
    assert.match(String(compose.services[name]!.environment.ENGINE), /^(server|\$\{ENGINE:-server\})$/, `${name}: ENGINE`);
  }
  const example = /^ENGINE=(.*)$/m.exec(readFileSync(`${root}.env.example`, 'utf8'));
  if (example) assert.equal(example[1], 'server', '.env.example ENGINE');
  // Kubernetes: the GPU worker.
  const worker = find('Deployment', 'imagefleet-worker').spec as unknown as { template: { spec: { containers: { env?: { name: string; value: string }[] }[] } } };
  assert.equal(worker.template.spec.containers[0]!.env?.find((entry) => entry.name === 'ENGINE')?.value, 'server', 'k8s worker: ENGINE');
});

test('Kubernetes manifests: required fields, selectors that match, probes, GPU requests, a grace period past the shutdown deadline', () => {
  for (const manifest of manifests) {
    assert.ok(manifest.apiVersion && manifest.kind && manifest.metadata?.name, JSON.stringify(manifest).slice(0, 120));
    if (manifest.kind !== 'Namespace') assert.equal(manifest.metadata.namespace, 'imagefleet', `${manifest.kind}/${manifest.metadata.name}`);
  }
  const config = find('ConfigMap', 'imagefleet-config').data!;
  type Container = { args: string[]; readinessProbe: { httpGet: { path: string } }; livenessProbe: { httpGet: { path: string } }; resources: { limits: Record<string, unknown>; requests: Record<string, unknown> } };
  type Deployment = { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[]; terminationGracePeriodSeconds?: number } } };
  for (const name of ['imagefleet-producer', 'imagefleet-worker']) {
    const spec = find('Deployment', name).spec as unknown as Deployment;
    for (const [key, value] of Object.entries(spec.selector.matchLabels)) assert.equal(spec.template.metadata.labels[key], value, `${name} selector`);
    const container = spec.template.spec.containers[0]!;
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    const pdb = manifests.find((manifest) => manifest.kind === 'PodDisruptionBudget' && manifest.metadata.name === name)!;
    assert.deepEqual((pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, spec.selector.matchLabels);
  }
  const worker = find('Deployment', 'imagefleet-worker').spec as unknown as Deployment;
  assert.equal(worker.template.spec.containers[0]!.resources.limits['nvidia.com/gpu'], 1);
  assert.ok(worker.template.spec.terminationGracePeriodSeconds! * 1000 > Number(config.SHUTDOWN_TIMEOUT_MS), 'grace period must exceed SHUTDOWN_TIMEOUT_MS');
  const service = find('Service', 'imagefleet-api').spec as { selector: Record<string, string> };
  assert.deepEqual(service.selector, (find('Deployment', 'imagefleet-producer').spec as unknown as Deployment).selector.matchLabels);
  const scaled = find('ScaledObject', 'imagefleet-worker').spec as { scaleTargetRef: { name: string }; triggers: { type: string; metadata: { query: string } }[] };
  assert.equal(scaled.scaleTargetRef.name, 'imagefleet-worker');
  assert.equal(scaled.triggers[0]!.type, 'prometheus');
  assert.match(scaled.triggers[0]!.metadata.query, new RegExp(`imagefleet_queue_jobs\\{queue="${VLM_QUEUE}",state=~"wait\\|prioritized"\\}`));
});

test("KEDA's query counts enqueued model jobs: they wait in the states it sums", async () => {
  const query = (find('ScaledObject', 'imagefleet-worker').spec as { triggers: { metadata: { query: string } }[] }).triggers[0]!.metadata.query;
  const states = /state=~"([^"]+)"/.exec(query)![1]!.split('|');
  const prefix = `test_keda_${process.pid}`;
  const backend = createJobBackend(loadConfig({ REDIS_URL: services.redisUrl, QUEUE_PREFIX: prefix }), 'test-keda');
  try {
    const data = (i: number) => ({ batchId: 'b', task: 'tagging', source: { store: 's3://x', key: `${i}.jpg` }, results: 's3://r' });
    await backend.jobs.enqueueImages({ kind: 'model' }, { batchId: 'b' }, Array.from({ length: 7 }, (_, i) => ({ jobId: `b-${i}`, name: 'tagging', data: data(i) })));
    const vlm = (await backend.jobs.counts()).find((queue) => queue.queue === VLM_QUEUE)!;
    assert.equal(states.reduce((sum, state) => sum + vlm.counts[state as QueueCountState], 0), 7);
  } finally {
    await backend.close();
    await deleteRedisPrefix(services.redisUrl, prefix);
  }
});
