import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices } from '../helpers/services.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { waitForBatchEnd } from '../helpers/producer.js';
import { noise, pngDeclaring, syntheticPhoto } from '../helpers/images.js';
import { multipart } from '../helpers/http.js';
import { startReceiver } from '../helpers/webhook-receiver.js';
import { row, type SecurityRow } from './row.js';

const AREA = 'held';

/**
 * The probe's inputs that already held before issue 10 (format sniffing before sharp, pixel limits
 * before decoding, upload limits and file name cleaning, request type checks, prototype pollution):
 * kept in the suite so that they keep holding.
 */
export async function runSecurityCases(): Promise<SecurityRow[]> {
  const services = await startServices();
  const stores = new StoreRegistry(services.s3);
  const prefixes: string[] = [];
  // An SVG that the fleet decoded would fetch its image from here.
  const counter = await startReceiver('ok');
  const rows: SecurityRow[] = [];
  let fleet: Awaited<ReturnType<typeof startTestFleet>> | undefined;
  try {
    await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
    const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64"><image xlink:href="http://127.0.0.1:${counter.port}/x.png" width="64" height="64"/></svg>`);
    const photos = stores.open('s3://photos');
    await Promise.all([photos.put('held/svg-named.jpg', svg), photos.put('held/bomb.png', await pngDeclaring(60_000, 60_000)), photos.put('held/ok.jpg', await syntheticPhoto(801, 64, 48))]);
    fleet = await startTestFleet(services, stores, prefixes, { UPLOAD_MAX_BYTES: '64KiB' });
    fleet.startWorker();
    const app = fleet.producer.app;
    const upload = async (filename: string, content: Buffer) => {
      const response = await app.inject({ method: 'POST', url: '/v1/images', ...multipart([{ name: 'task', content: 'inspect' }, { name: 'file', filename, content }]) });
      return { status: response.statusCode, body: response.json() as { error?: string; batchId?: string; jobId?: string } };
    };

    const svgUpload = await upload('photo.jpg', svg);
    rows.push(row(AREA, 'upload: SVG with an external image, named photo.jpg', '415 not_an_image', `${svgUpload.status} ${svgUpload.body.error}`));

    const batchId = await fleet.submit({ task: 'inspect', source: { s3: { bucket: 'photos', prefix: 'held/' } } });
    await waitForBatchEnd(fleet.producer, batchId, 60_000);
    const outcomes = new Map((await fleet.manifest(batchId)).map((line) => [line.key, line.status === 'ok' ? 'ok' : line.error?.code]));
    rows.push(row(AREA, 'batch: SVG stored as svg-named.jpg', 'not_an_image', String(outcomes.get('held/svg-named.jpg'))));
    rows.push(row(AREA, 'batch: PNG declaring 60000x60000 pixels (a decompression bomb)', 'too_many_pixels', String(outcomes.get('held/bomb.png'))));
    rows.push(row(AREA, 'batch: a good image beside them', 'ok', String(outcomes.get('held/ok.jpg'))));
    rows.push(row(AREA, 'connections the SVGs opened to the address they name', '0', String(counter.connections)));

    const big = await upload('big.png', await noise(512, 512));
    rows.push(row(AREA, 'upload over UPLOAD_MAX_BYTES (64 KiB)', '413', String(big.status)));
    const traversal = await upload('../../../etc/passwd.jpg', await syntheticPhoto(803, 64, 48));
    if (traversal.body.batchId) await waitForBatchEnd(fleet.producer, traversal.body.batchId, 30_000);
    const job = traversal.body.jobId ? (await app.inject({ url: `/v1/jobs/${traversal.body.jobId}` })).json() as { key?: string } : {};
    rows.push(row(AREA, 'upload named ../../../etc/passwd.jpg', 'stored inside its batch folder', job.key && !job.key.includes('..') && job.key.startsWith(`${traversal.body.batchId}/`) ? 'stored inside its batch folder' : `key ${job.key}`));

    const typed = await app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 7, source: { s3: { bucket: 'photos' } } } });
    rows.push(row(AREA, 'POST /v1/batches with "task": 7', '400', String(typed.statusCode)));
    const polluted = await app.inject({ method: 'POST', url: '/v1/batches', headers: { 'content-type': 'application/json' }, payload: '{"task":"inspect","source":{"s3":{"bucket":"photos"}},"__proto__":{"admin":true}}' });
    rows.push(row(AREA, 'POST /v1/batches with a "__proto__" member', '400, nothing polluted', `${polluted.statusCode}${({} as Record<string, unknown>).admin === undefined ? ', nothing polluted' : ', polluted'}`));
  } finally {
    await fleet?.close().catch(() => undefined);
    await counter.close();
    stores.close();
    for (const prefix of prefixes) await deleteRedisPrefix(services.redisUrl, prefix).catch(() => 0);
    await services.stop();
  }
  return rows;
}
