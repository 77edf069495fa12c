import { after, before } from 'node:test';
import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from './services.js';
import { syntheticPhoto } from './images.js';

/** What a test file shares: Redis and S3, the stores, the queue prefixes to delete and the cleanups to run at the end. */
export interface PhotoWorld {
  services: TestServices;
  stores: StoreRegistry;
  prefixes: string[];
  cleanups: (() => Promise<void>)[];
}

/**
 * Registers the file's before/after hooks: services started, the results and photos buckets, a
 * small photo at each key (seeds from firstSeed); at the end the cleanups in reverse, then the
 * queue prefixes and the services.
 */
export function usePhotoWorld(keys: string[], firstSeed: number): PhotoWorld {
  const world = { prefixes: [], cleanups: [] } as unknown as PhotoWorld;
  before(async () => {
    world.services = await startServices();
    await Promise.all(['results', 'photos'].map((bucket) => ensureBucket(world.services, bucket)));
    world.stores = new StoreRegistry(world.services.s3);
    await Promise.all(keys.map(async (key, i) => world.stores.open('s3://photos').put(key, await syntheticPhoto(firstSeed + i, 96, 64))));
  });
  after(async () => {
    for (const cleanup of world.cleanups.reverse()) await cleanup().catch(() => undefined);
    world.stores?.close();
    if (world.services) {
      for (const prefix of world.prefixes) await deleteRedisPrefix(world.services.redisUrl, prefix);
      await world.services.stop();
    }
  });
  return world;
}
