import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices } from '../helpers/services.js';
import { startTestFleet } from '../helpers/test-fleet.js';
import { batchStatus } from '../helpers/producer.js';
import { waitFor } from '../helpers/processes.js';
import { readBacklog } from '../helpers/backlog.js';
import { row, type SecurityRow } from './row.js';

const AREA = 'backpressure';
const LIMIT = 20;
const KEYS = 120;

/**
 * A prefix far larger than what Redis should hold (issue 11): posted with no worker to drain it,
 * the batch puts LISTING_AHEAD jobs into Redis, says it waits for room, and holds there.
 */
export async function runSecurityCases(): Promise<SecurityRow[]> {
  const services = await startServices();
  const stores = new StoreRegistry(services.s3);
  const prefixes: string[] = [];
  const rows: SecurityRow[] = [];
  let fleet: Awaited<ReturnType<typeof startTestFleet>> | undefined;
  try {
    await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(services, bucket)));
    const photos = stores.open('s3://photos');
    for (let i = 0; i < KEYS; i += 40) await Promise.all(Array.from({ length: 40 }, (_, j) => photos.put(`flood/${String(i + j).padStart(4, '0')}.jpg`, 'x')));
    fleet = await startTestFleet(services, stores, prefixes, { LISTING_AHEAD: String(LIMIT) });
    const batchId = await fleet.submit({ task: 'inspect', source: { s3: { bucket: 'photos', prefix: 'flood/' } } });
    await waitFor(async () => (await batchStatus(fleet!.producer, batchId)).waitingFor === 'room', 30_000, 'the listing to pause for room');
    const status = await batchStatus(fleet.producer, batchId);
    const backlog = await readBacklog(fleet.producer.deps, batchId);
    rows.push(row(AREA, `a ${KEYS}-key prefix with LISTING_AHEAD=${LIMIT} and no worker: jobs in Redis`, String(LIMIT), String(backlog.queued)));
    rows.push(row(AREA, 'its status while it holds', `listing, room, total ${LIMIT}`, `${status.state}, ${status.waitingFor}, total ${status.total}`));
  } finally {
    await fleet?.close().catch(() => undefined);
    stores.close();
    for (const prefix of prefixes) await deleteRedisPrefix(services.redisUrl, prefix).catch(() => 0);
    await services.stop();
  }
  return rows;
}
