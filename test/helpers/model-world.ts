import { ensureBucket } from './services.js';
import { startTestFleet } from './test-fleet.js';
import { useTinyModelServices, type TinyModelServices } from './tiny-model-fleet.js';

/** What a test file with model fleets shares: services, buckets, a scratch folder and the generated tiny model. */
export type ModelWorld = TinyModelServices;

/**
 * useTinyModelServices with these `buckets` too, then `setup` (e.g. the file's source images).
 * `fleet(env)` starts a fleet (producer here, workers as processes) whose workers run the tiny
 * model on llama.node with one thread and one slot; its Redis prefix is removed afterwards.
 */
export function useModelWorld(name: string, buckets: string[], setup: (world: ModelWorld) => Promise<void> = async () => undefined) {
  const world = useTinyModelServices(name, {
    setup: async (shared) => {
      await Promise.all(buckets.map((bucket) => ensureBucket(shared.services, bucket)));
      await setup(shared);
    },
  });
  const fleet = (env: Record<string, string> = {}) =>
    startTestFleet(world.services, world.stores, world.prefixes, { ENGINE: 'llama', MODEL_PATH: world.tiny.model, MMPROJ_PATH: world.tiny.mmproj, ENGINE_THREADS: '1', ENGINE_SLOTS: '1', ...env });
  return { world, fleet };
}
