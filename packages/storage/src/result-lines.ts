import type { BlobStore } from './blob-store.js';
import { resultLayout } from './layout.js';

/** Maps items through fn with at most `limit` in flight, yielding results in input order. */
export async function* mapOrdered<T, R>(items: AsyncIterable<T[]>, limit: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const pending: Promise<R>[] = [];
  for await (const page of items) {
    for (const item of page) {
      pending.push(fn(item));
      if (pending.length >= limit) yield await pending.shift()!;
    }
  }
  while (pending.length > 0) yield await pending.shift()!;
}

/**
 * Every result object of a batch as one NDJSON line each, in key order, reading a bounded
 * number of objects at a time: memory stays flat however large the batch.
 */
export async function* streamResultLines(store: BlobStore, batchId: string, concurrency = 16): AsyncGenerator<string> {
  async function* resultPages() {
    for await (const page of store.list(resultLayout.batchPrefix(batchId))) {
      yield page.filter((info) => resultLayout.isResultKey(info.key));
    }
  }
  const maxBytes = 64 * 1024 * 1024;
  for await (const body of mapOrdered(resultPages(), concurrency, (info) => store.get(info.key, { maxBytes }))) {
    yield `${body.toString('utf8').trim()}\n`;
  }
}
