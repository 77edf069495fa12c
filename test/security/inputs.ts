import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices } from '../helpers/services.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { waitForBatchEnd } from '../helpers/producer.js';
import { syntheticPhoto } from '../helpers/images.js';
import { multipart } from '../helpers/http.js';
import { bigOptionsBatch, HOSTILE_KEYS, hostileLocalTree } from '../helpers/hostile-inputs.js';
import { row, type SecurityRow } from './row.js';

const AREA = 'inputs';

/**
 * Issue 10 item 5 and "options are copied into every job": every hostile input against a real
 * producer, worker processes, Redis and s3rver; one row each.
 */
export async function runSecurityCases(): Promise<SecurityRow[]> {
  const services = await startServices();
  const stores = new StoreRegistry(services.s3);
  const prefixes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'imagefleet-security-inputs-'));
  const fleets: Awaited<ReturnType<typeof startTestFleet>>[] = [];
  const rows: SecurityRow[] = [];
  try {
    await Promise.all(['results', 'uploads', 'photos', 'secret'].map((bucket) => ensureBucket(services, bucket)));
    const collidingKeys = ['x.jpg', 'x.jpg.json._S3rver_object/y.jpg'];
    await Promise.all(collidingKeys.map(async (key, i) => stores.open('s3://photos').put(key, await syntheticPhoto(720 + i, 64, 48))));
    await stores.open('s3://secret').put('x.jpg', await syntheticPhoto(730, 64, 48));
    const tree = await hostileLocalTree(join(dir, 'root'), join(dir, 'outside'));
    const local = await startTestFleet(services, stores, prefixes, { RESULTS_URL: join(dir, 'results'), LOCAL_SOURCE_ROOTS: join(dir, 'root') });
    // One job at a time, in key order: the other collision order crashes s3rver itself.
    const s3 = await startTestFleet(services, stores, prefixes, { STORAGE_OUTAGE_WINDOW_MS: '1000', RECONCILE_INTERVAL_MS: '200', FINALIZE_RETRY_MS: '300', WORKER_CONCURRENCY: '1' });
    fleets.push(local, s3);
    local.startWorker();
    s3.startWorker();
    const post = async (fleet: typeof local, body: unknown) => {
      const response = await fleet.producer.app.inject({ method: 'POST', url: '/v1/batches', payload: body as object });
      return `${response.statusCode} ${(response.json() as { message?: string }).message ?? 'accepted'}`;
    };
    const localRefusal = '400 source.local.path must be an existing directory inside the directories this server allows (LOCAL_SOURCE_ROOTS)';
    rows.push(row(AREA, 'local path: a link inside the root to a directory outside', localRefusal, await post(local, { task: 'inspect', source: { local: { path: tree.escape } } })));
    rows.push(row(AREA, 'local path: /etc (outside every root)', localRefusal, await post(local, { task: 'inspect', source: { local: { path: '/etc' } } })));
    rows.push(row(AREA, 'local path: missing directory (same answer: no existence oracle)', localRefusal, await post(local, { task: 'inspect', source: { local: { path: join(dir, 'root', 'nope') } } })));

    const listed = await waitForBatchEnd(local.producer, await local.submit({ task: 'inspect', source: { local: { path: tree.src } } }), 30_000);
    rows.push(row(AREA, 'local dir with a file link, a dir link (out of root), a FIFO, a .txt', 'completed 1; skipped {"not_a_regular_file":1,"not_an_image_name":1,"symlink":2}',
      `${listed.state} ${listed.completed}; skipped ${JSON.stringify(Object.fromEntries(Object.entries(listed.skippedReasons ?? {}).sort()))}`));

    for (const [what, key] of HOSTILE_KEYS) {
      rows.push(row(AREA, `source.keys[1] with ${what}`, '400 source.keys[1] is not a safe object key', (await post(s3, { task: 'inspect', source: { keys: ['ok.jpg', key], bucket: 'photos' } })).replace(/: .*$/, '')));
    }
    const dotted = await stores.open('s3://photos').get('../secret/x.jpg', { maxBytes: 1e6 }).then(() => 'read', (error: { code?: string }) => error.code ?? 'error');
    rows.push(row(AREA, 'S3 GET of ../secret/x.jpg through bucket photos', 'invalid_job (no request sent)', dotted === 'invalid_job' ? 'invalid_job (no request sent)' : dotted));
    await s3.producer.deps.batches.create({ id: 'secdots', task: 'inspect', source: { keys: ['../secret/x.jpg', 'x.jpg'], bucket: 'photos' }, sourceStore: 's3://photos', resultsUrl: s3.config.resultsUrl });
    s3.producer.lister.start('secdots');
    const dots = await waitForBatchEnd(s3.producer, 'secdots', 30_000);
    const secretKeys: string[] = [];
    for await (const page of stores.open('s3://secret').list('')) secretKeys.push(...page.map((info) => info.key));
    rows.push(row(AREA, 'a stored batch listing ../secret/x.jpg (from before the check)', 'completed; skipped invalid_key 1; bucket secret holds only x.jpg',
      `${dots.state}; skipped invalid_key ${dots.skippedReasons?.invalid_key ?? 0}; bucket secret holds only ${secretKeys.join(',')}`));

    const collided = await waitForBatchEnd(local.producer, await local.submit({ task: 'inspect', source: { local: { path: tree.collide } } }), 30_000);
    const localCodes = (await local.manifest(collided.id)).map((line) => line.error?.code ?? line.status).sort().join(',');
    rows.push(row(AREA, 'result paths colliding in a results directory (x.jpg, x.jpg.json/y.jpg)', 'completed_with_errors ok,result_unstorable', `${collided.state} ${localCodes}`));
    const s3Collided = await waitForBatchEnd(s3.producer, await s3.submit({ task: 'inspect', source: { keys: collidingKeys, bucket: 'photos' } }), 60_000);
    const s3Codes = (await s3.manifest(s3Collided.id)).map((line) => line.error?.code ?? line.status).sort().join(',');
    rows.push(row(AREA, 'result paths colliding on s3rver (a write that keeps failing)', 'completed_with_errors ok,result_unstorable', `${s3Collided.state} ${s3Codes}`));

    const image = await syntheticPhoto(740, 80, 60);
    const upload = async (filename: string, content: Buffer | string) => {
      const response = await local.producer.app.inject({ method: 'POST', url: '/v1/images', ...multipart([{ name: 'task', content: 'inspect' }, { name: 'file', filename, content }]) });
      if (response.statusCode !== 202) return `${response.statusCode} ${response.json().error}`;
      await waitForBatchEnd(local.producer, response.json().batchId, 30_000);
      return `202, job ${(await local.producer.app.inject({ url: `/v1/jobs/${response.json().jobId}` })).json().state}`;
    };
    rows.push(row(AREA, 'upload named "photo" (no extension)', '202, job completed', await upload('photo', image)));
    rows.push(row(AREA, 'upload of text named x.jpg', '415 not_an_image', await upload('x.jpg', 'hello')));

    const endpoint = new URL(services.s3.endpoint).host;
    const missing = await s3.producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'inspect', source: { s3: { bucket: 'does-not-exist' } } } });
    rows.push(row(AREA, 'missing bucket: does the body name the endpoint or NoSuchBucket?', 'no: source.s3.bucket cannot be read by this server',
      missing.body.includes(endpoint) || /NoSuchBucket/.test(missing.body) ? `yes: ${missing.body}` : `no: ${missing.json().message}`));

    const { before, after, jobs } = await bigOptionsBatch(s3.producer, services.redisUrl);
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
    rows.push(row(AREA, `1 MB of options x 400 images (Redis used_memory ${mib(before)} -> ${mib(after)} MiB)`, '400 jobs, Redis grew under 8 MiB', `${jobs} jobs, Redis grew ${after - before < 8 * 2 ** 20 ? 'under' : 'over'} 8 MiB`));
  } finally {
    for (const fleet of fleets) await fleet.close().catch(() => undefined);
    stores.close();
    for (const prefix of prefixes) await deleteRedisPrefix(services.redisUrl, prefix).catch(() => 0);
    await services.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
