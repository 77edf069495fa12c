import { Webhook } from 'standardwebhooks';
import { StoreRegistry } from '@imagefleet/storage';
import { syntheticPhoto } from '../helpers/images.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer } from '../helpers/producer.js';
import { deleteRedisPrefix, ensureBucket, startServices } from '../helpers/services.js';
import { REFUSED_WEBHOOKS } from '../helpers/webhook-cases.js';
import { startDeliveryBench } from '../helpers/webhook-delivery.js';
import { HANGING_RECEIVERS, hangingReceiversScenario } from '../helpers/webhook-isolation.js';
import { startReceiver } from '../helpers/webhook-receiver.js';
import { row, type SecurityRow } from './row.js';

const AREA = 'webhook';
const ISOLATION_DEADLINE_MS = 20_000;

/**
 * Hostile webhooks: every spelling of a non-public target at submission; a host name resolving to
 * loopback, a redirect, a 100 MB answer at delivery; signatures, the shown-once secret, internal
 * locations in the payload; six hanging receivers against an unrelated batch.
 */
export async function runSecurityCases(): Promise<SecurityRow[]> {
  const services = await startServices();
  const stores = new StoreRegistry(services.s3);
  const prefixes: string[] = [];
  const rows: SecurityRow[] = [];
  try {
    await Promise.all(['results', 'uploads', 'hooks'].map((bucket) => ensureBucket(services, bucket)));
    await stores.open('s3://hooks').put('one.jpg', await syntheticPhoto(5, 64, 48));
    rows.push(...(await submissionCases(services)));
    rows.push(...(await deliveryCases(services)));
    const isolation = await hangingReceiversScenario(services, stores, prefixes, { keys: ['one.jpg'], bucket: 'hooks' }, ISOLATION_DEADLINE_MS).then(
      (outcome) => `${outcome.hanging} hanging; finished and delivered within ${ISOLATION_DEADLINE_MS / 1000} s`,
      (error: Error) => `not within the deadline: ${error.message.split('\n')[0]}`,
    );
    rows.push(row(AREA, `${HANGING_RECEIVERS} receivers that never answer, then an unrelated batch`, `${HANGING_RECEIVERS} hanging; finished and delivered within ${ISOLATION_DEADLINE_MS / 1000} s`, isolation));
  } finally {
    stores.close();
    for (const prefix of prefixes) await deleteRedisPrefix(services.redisUrl, prefix);
    await services.stop();
  }
  return rows;
}

async function submissionCases(services: Awaited<ReturnType<typeof startServices>>): Promise<SecurityRow[]> {
  const producer = await startTestProducer(testConfig(testEnv(services)));
  const rows: SecurityRow[] = [];
  const post = (body: Record<string, unknown>) => producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'inspect', source: { keys: ['one.jpg'], bucket: 'hooks' }, ...body } });
  try {
    for (const [webhook] of REFUSED_WEBHOOKS) {
      const response = await post({ webhook });
      const body = response.json<{ error?: string; message?: string }>();
      rows.push(row(AREA, `POST webhook ${webhook}`, '400 bad_request naming webhook', `${response.statusCode} ${body.error} ${body.message?.startsWith('webhook ') ? 'naming webhook' : `(${body.message})`}`));
    }
    const first = await post({ webhook: 'https://hooks.example.com/in', batchId: 'sec_secret' });
    const secret = first.json<{ webhookSecret?: string }>().webhookSecret ?? '';
    rows.push(row(AREA, 'POST with a public webhook', '202 with a whsec_ secret', `${first.statusCode} ${/^whsec_/.test(secret) ? 'with a whsec_ secret' : 'without a secret'}`));
    const again = await post({ webhook: 'https://hooks.example.com/in', batchId: 'sec_secret' });
    rows.push(row(AREA, 'the same POST again (secret shown once)', '202 without a secret', `${again.statusCode} ${'webhookSecret' in again.json() ? 'with a secret' : 'without a secret'}`));
    const status = await producer.app.inject({ url: '/v1/batches/sec_secret' });
    rows.push(row(AREA, 'GET the batch status', 'no secret in it', secret !== '' && status.body.includes(secret.slice(6)) ? 'secret shown' : 'no secret in it'));
  } finally {
    await producer.close();
    await deleteRedisPrefix(services.redisUrl, producer.deps.config.queuePrefix);
  }
  return rows;
}

async function deliveryCases(services: Awaited<ReturnType<typeof startServices>>): Promise<SecurityRow[]> {
  const strict = await startDeliveryBench(services);
  const open = await startDeliveryBench(services, { WEBHOOK_ALLOW_PRIVATE: 'true' });
  const ok = await startReceiver('ok');
  const elsewhere = await startReceiver('ok');
  const redirecting = await startReceiver({ redirectTo: `${elsewhere.url}/stolen` });
  const huge = await startReceiver({ status: 200, bodyBytes: 100 * 1024 * 1024 });
  const rows: SecurityRow[] = [];
  try {
    const local = await strict.finishedBatch(`http://localhost:${ok.port}/hook`);
    const localRun = await strict.deliver(local.batchId, { attempts: 5 });
    rows.push(row(AREA, 'deliver to http://localhost:<port> (resolves to loopback)', 'failed, 0 connections', `${localRun}, ${ok.connections} connections`));

    const redirect = await open.finishedBatch(`${redirecting.url}/hook`);
    const redirectRun = await open.deliver(redirect.batchId);
    rows.push(row(AREA, 'receiver answers 307 to another server', 'failed, target got 0 connections', `${redirectRun}, target got ${elsewhere.connections} connections`));

    const big = await open.finishedBatch(`${huge.url}/hook`);
    const bigRun = await open.deliver(big.batchId);
    await huge.answerClosed();
    rows.push(row(AREA, 'receiver answers 200 with a 100 MB body', 'delivered, < 16 MiB taken', `${bigRun}, ${huge.bytesSent < 16 * 1024 * 1024 ? '< 16 MiB' : `${huge.bytesSent} bytes`} taken`));

    const signed = await open.finishedBatch(`${ok.url}/hook`);
    await open.deliver(signed.batchId);
    const delivery = ok.requests.at(-1);
    const verified = (() => {
      try {
        new Webhook(signed.secret).verify(delivery?.body ?? '', (delivery?.headers ?? {}) as Record<string, string>);
        return 'verified';
      } catch (error) {
        return `not verified: ${(error as Error).message}`;
      }
    })();
    rows.push(row(AREA, 'signature checked with the standardwebhooks library', 'verified', verified));
    rows.push(row(AREA, 'payload inspected for internal locations', 'none (API results path only)', /s3:\/\/|manifest\.jsonl|\/data\//.test(delivery?.body ?? '') ? 'internal location found' : 'none (API results path only)'));
  } finally {
    await Promise.all([ok, elsewhere, redirecting, huge].map((receiver) => receiver.close()));
    await strict.close();
    await open.close();
  }
  return rows;
}
