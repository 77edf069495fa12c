/**
 * Reads a value over and over while something runs (each read starts when the last one ended,
 * `everyMs` apart), so a test can assert the largest value seen, not one lucky moment.
 */
export function startSampling<T>(read: () => Promise<T>, everyMs = 20) {
  const samples: T[] = [];
  let running = true;
  let failure: unknown;
  const loop = (async () => {
    while (running) {
      try {
        samples.push(await read());
      } catch (error) {
        failure = error;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    samples,
    /** Stops sampling; throws the read's error if one failed. */
    async stop(): Promise<T[]> {
      running = false;
      await loop;
      if (failure !== undefined) throw failure;
      return samples;
    },
  };
}
