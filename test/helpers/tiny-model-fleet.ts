import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyModel, type TinyModelFiles } from '@imagefleet/engine';
import { StoreRegistry } from '@imagefleet/storage';
import { deleteRedisPrefix, ensureBucket, startServices, type TestServices } from './services.js';

/** What a test file with model fleets shares: filled in by its `before` hook. */
export interface TinyModelServices {
  services: TestServices;
  stores: StoreRegistry;
  /** A temporary directory, removed afterwards. */
  dir: string;
  tiny: TinyModelFiles;
  /** Redis prefixes of the fleets started (startTestFleet pushes them), deleted afterwards. */
  prefixes: string[];
}

/**
 * Registers the file's before/after hooks: Redis and s3rver with the results, uploads and photos
 * buckets, a store registry, and a generated tiny model, then `setup` (e.g. the test's photos; in
 * the same hook, as node:test may run a file's root hooks side by side); afterwards everything is
 * removed.
 */
export function useTinyModelServices(name: string, options: { seed?: number; setup?: (shared: TinyModelServices) => Promise<void> } = {}): TinyModelServices {
  const shared = { prefixes: [] } as unknown as TinyModelServices;
  before(async () => {
    shared.services = await startServices();
    await Promise.all(['results', 'uploads', 'photos'].map((bucket) => ensureBucket(shared.services, bucket)));
    shared.stores = new StoreRegistry(shared.services.s3);
    shared.dir = mkdtempSync(join(tmpdir(), `imagefleet-${name}-`));
    shared.tiny = await makeTinyModel(join(shared.dir, 'tiny'), { seed: options.seed ?? 1 });
    await options.setup?.(shared);
  });
  after(async () => {
    shared.stores?.close();
    if (shared.services) {
      for (const prefix of shared.prefixes) await deleteRedisPrefix(shared.services.redisUrl, prefix);
      await shared.services.stop();
    }
    if (shared.dir) rmSync(shared.dir, { recursive: true, force: true });
  });
  return shared;
}
