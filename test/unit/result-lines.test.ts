import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapOrdered } from '@imagefleet/storage';

async function* pages<T>(items: T[]): AsyncGenerator<T[]> {
  yield items;
}

/** Collects 'unhandledRejection' events while `work` runs and for two macrotasks after it. */
async function unhandledDuring(work: () => Promise<unknown>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', listener);
  try {
    await work().catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('unhandledRejection', listener);
  }
  return seen;
}

test('mapOrdered: a failure of an item still waiting its turn is thrown in order, never as an unhandled rejection', async () => {
  const failure = new Error('GET b failed');
  const fn = (item: string) =>
    item === 'a' ? new Promise<string>((resolve) => setTimeout(() => resolve('A'), 30)) : item === 'b' ? Promise.reject(failure) : Promise.resolve(item.toUpperCase());
  const yielded: string[] = [];
  let thrown: unknown;
  const unhandled = await unhandledDuring(async () => {
    try {
      for await (const value of mapOrdered(pages(['a', 'b', 'c']), 16, fn)) yielded.push(value);
    } catch (error) {
      thrown = error;
    }
  });
  assert.deepEqual(yielded, ['A']);
  assert.equal(thrown, failure);
  assert.deepEqual(unhandled, []);
});

test('mapOrdered: failures of items left in flight when the consumer stops early are handled', async () => {
  const fn = (item: number) => (item === 0 ? Promise.resolve(item) : Promise.reject(new Error(`item ${item}`)));
  const unhandled = await unhandledDuring(async () => {
    for await (const value of mapOrdered(pages([0, 1, 2, 3]), 16, fn)) {
      assert.equal(value, 0);
      break;
    }
  });
  assert.deepEqual(unhandled, []);
});

test('mapOrdered keeps input order with at most `limit` in flight', async () => {
  let inFlight = 0;
  let most = 0;
  const fn = async (item: number) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((resolve) => setTimeout(resolve, (5 - item) * 3));
    inFlight--;
    return item * 10;
  };
  const values: number[] = [];
  for await (const value of mapOrdered(pages([0, 1, 2, 3, 4]), 2, fn)) values.push(value);
  assert.deepEqual(values, [0, 10, 20, 30, 40]);
  assert.equal(most, 2);
});
