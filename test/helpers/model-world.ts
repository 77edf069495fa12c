import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyModel, type TinyModelFiles } from '@imagefleet/engine';
import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from './services.js';
import { startTestFleet } from './test-fleet.js';

/** What a test file with model fleets shares: services, buckets, a scratch folder and the generated tiny model. */
export interface ModelWorld {
  services: TestServices;
  stores: StoreRegistry;
  /** A scratch folder, removed after the file's tests. */
  dir: string;
  tiny: TinyModelFiles;
}

/**
 * Registers the file's before/after hooks: Redis and s3rver with `buckets`, the tiny model (seed 1),
 * then `setup` (e.g. the file's source images), and the cleanup of every fleet's Redis prefix. `fleet(env)` starts a fleet (producer here, workers
 * as processes) whose workers run the tiny model on llama.node with one thread and one slot.
 */
export function useModelWorld(name: string, buckets: string[], setup: (world: ModelWorld) => Promise<void> = async () => undefined) {
  const world = {} as ModelWorld;
  const prefixes: string[] = [];
  before(async () => {
    world.services = await startServices();
    await Promise.all(buckets.map((bucket) => ensureBucket(world.services, bucket)));
    world.stores = new StoreRegistry(world.services.s3);
    world.dir = mkdtempSync(join(tmpdir(), `imagefleet-${name}-`));
    world.tiny = await makeTinyModel(join(world.dir, 'tiny'), { seed: 1 });
    await setup(world);
  });
  after(async () => {
    world.stores?.close();
    if (world.services) {
      for (const prefix of prefixes) await deleteRedisPrefix(world.services.redisUrl, prefix);
      await world.services.stop();
    }
    if (world.dir) rmSync(world.dir, { recursive: true, force: true });
  });
  const fleet = (env: Record<string, string> = {}) =>
    startTestFleet(world.services, world.stores, prefixes, { ENGINE: 'llama', MODEL_PATH: world.tiny.model, MMPROJ_PATH: world.tiny.mmproj, ENGINE_THREADS: '1', ENGINE_SLOTS: '1', ...env });
  return { world, fleet };
}
