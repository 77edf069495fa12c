import type { BlobStore } from './blob-store.js';
import { resultLayout } from './layout.js';
import { withStorageRetries, type RetryPolicy } from './retry.js';

/**
 * Maps items through fn with at most `limit` in flight, yielding results in input order. A
 * rejection is thrown where its item is yielded; every promise in flight has a handler from the
 * start, so a failure of a later item (or of any item once the consumer stopped early) is never
 * an unhandled rejection, which would end the process.
 */
export async function* mapOrdered<T, R>(items: AsyncIterable<T[]>, limit: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  type Settled = { ok: true; value: R } | { ok: false; error: unknown };
  const pending: Promise<Settled>[] = [];
  const settle = (item: T): Promise<Settled> => {
    try {
      return fn(item).then(
        (value): Settled => ({ ok: true, value }),
        (error: unknown): Settled => ({ ok: false, error }),
      );
    } catch (error) {
      return Promise.resolve({ ok: false, error });
    }
  };
  const next = async (): Promise<R> => {
    const settled = await pending.shift()!;
    if (!settled.ok) throw settled.error;
    return settled.value;
  };
  for await (const page of items) {
    for (const item of page) {
      pending.push(settle(item));
      if (pending.length >= limit) yield await next();
    }
  }
  while (pending.length > 0) yield await next();
}

/**
 * Every result object of a batch as one NDJSON line each, in key order, reading a bounded
 * number of objects at a time (memory stays flat however large the batch), each GET retried on
 * transient storage errors.
 */
export async function* streamResultLines(store: BlobStore, batchId: string, concurrency = 16, retry: RetryPolicy = {}): AsyncGenerator<string> {
  async function* resultPages() {
    for await (const page of store.list(resultLayout.batchPrefix(batchId))) {
      yield page.filter((info) => !info.skip && resultLayout.isResultKey(info.key));
    }
  }
  const maxBytes = 64 * 1024 * 1024;
  for await (const body of mapOrdered(resultPages(), concurrency, (info) => withStorageRetries(() => store.get(info.key, { maxBytes }), retry))) {
    yield `${body.toString('utf8').trim()}\n`;
  }
}
