import type { StoreRegistry } from '@imagefleet/storage';
import { waitForBatchEnd } from './producer.js';
import { waitFor } from './processes.js';
import type { TestServices } from './services.js';
import { startTestFleet } from './test-fleet.js';
import { startReceiver } from './webhook-receiver.js';

export const HANGING_RECEIVERS = 6;

export interface IsolationOutcome {
  /** Deliveries hanging at their receivers when the unrelated batch was posted. */
  hanging: number;
  /** From posting the unrelated batch to its state completed, and to its webhook arriving. */
  finishedMs: number;
  deliveredMs: number;
}

/**
 * Six batches whose receivers never answer (WEBHOOK_TIMEOUT_MS 60 s), all six deliveries hanging
 * at once, then an unrelated batch with a receiver that answers: how long it takes to finish and
 * to be delivered. One worker process; `source` is a one-image source every batch reads.
 */
export async function hangingReceiversScenario(services: TestServices, stores: StoreRegistry, prefixes: string[], source: Record<string, unknown>, timeoutMs = 20_000): Promise<IsolationOutcome> {
  const hanging = await startReceiver('hang');
  const answering = await startReceiver('ok');
  const fleet = await startTestFleet(services, stores, prefixes, { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_TIMEOUT_MS: '60000', WEBHOOK_ATTEMPTS: '1' });
  try {
    fleet.startWorker();
    for (let i = 0; i < HANGING_RECEIVERS; i++) {
      await fleet.submit({ task: 'inspect', source, batchId: `hanging_${i}`, webhook: `${hanging.url}/${i}` });
    }
    await waitFor(() => hanging.requests.length >= HANGING_RECEIVERS, 60_000, `${HANGING_RECEIVERS} hanging deliveries`);
    const posted = Date.now();
    const batchId = await fleet.submit({ task: 'inspect', source, batchId: 'unrelated', webhook: `${answering.url}/unrelated` });
    await waitForBatchEnd(fleet.producer, batchId, timeoutMs);
    const finishedMs = Date.now() - posted;
    await waitFor(() => answering.requests.length > 0, Math.max(timeoutMs - finishedMs, 1), 'the unrelated batch webhook');
    return { hanging: hanging.requests.length, finishedMs, deliveredMs: Date.now() - posted };
  } finally {
    // Closing the receivers ends the hanging deliveries, so the worker stops at once.
    await hanging.close();
    await answering.close();
    await fleet.close();
  }
}
