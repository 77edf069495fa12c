import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from '../helpers/services.js';
import { syntheticPhoto } from '../helpers/images.js';
import { HANGING_RECEIVERS, hangingReceiversScenario } from '../helpers/webhook-isolation.js';

/**
 * Webhook deliveries have their own queue: receivers that never answer hold their own delivery
 * jobs only, never finalize, so an unrelated batch finishes (and is delivered) as if they were not
 * there. Before, delivery ran inside finalize at concurrency 1 and six hanging receivers delayed
 * an unrelated batch from 1.7 s to 37 s.
 */
let services: TestServices;
let stores: StoreRegistry;
const prefixes: string[] = [];

before(async () => {
  services = await startServices();
  await Promise.all(['results', 'uploads', 'isolation'].map((bucket) => ensureBucket(services, bucket)));
  stores = new StoreRegistry(services.s3);
  await stores.open('s3://isolation').put('one.jpg', await syntheticPhoto(3, 64, 48));
});

after(async () => {
  stores?.close();
  if (services) {
    for (const prefix of prefixes) await deleteRedisPrefix(services.redisUrl, prefix);
    await services.stop();
  }
});

test(`${HANGING_RECEIVERS} hanging webhook receivers do not delay an unrelated batch's finish or its delivery`, async () => {
  const outcome = await hangingReceiversScenario(services, stores, prefixes, { keys: ['one.jpg'], bucket: 'isolation' }, 20_000);
  // All six deliveries were hanging at once (WEBHOOK_TIMEOUT_MS is 60 s), and still the unrelated
  // batch finished and was delivered within the deadline the scenario enforces.
  assert.equal(outcome.hanging, HANGING_RECEIVERS);
  assert.ok(outcome.finishedMs < 20_000 && outcome.deliveredMs < 20_000, JSON.stringify(outcome));
});
