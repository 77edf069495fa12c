import { useEffect, useState } from 'preact/hooks';
import { describeError } from './api';

/** The current URL fragment (#/batches/x), kept in step with navigation. */
export function useHashRoute(): string {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const update = () => setHash(location.hash || '#/');
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return hash;
}

export interface Polled<T> {
  data: T | undefined;
  error: string | undefined;
  refresh: () => void;
}

/**
 * Loads `load` now and again every `intervalMs` while `active` (live progress without a server
 * push: the API is keyed by an Authorization header, which EventSource cannot send).
 */
export function usePolling<T>(load: () => Promise<T>, intervalMs: number, active: boolean, deps: unknown[]): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const value = await load();
        if (cancelled) return;
        setData(value);
        setError(undefined);
      } catch (caught) {
        if (!cancelled) setError(describeError(caught));
      }
      if (!cancelled && active) timer = setTimeout(run, intervalMs);
    };
    void run();
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [...deps, active, tick]);
  return { data, error, refresh: () => setTick((value) => value + 1) };
}
