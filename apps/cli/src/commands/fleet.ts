import type { FleetModel } from '@imagefleet/jobs';
import type { ApiClient } from '../api-client.js';
import { ExitCode } from '../cli-error.js';
import { formatTable } from '../table.js';

const COLUMNS = ['MODEL', 'WORKER', 'ENGINE', 'DEVICE', 'SLOTS', 'IMAGES/S', 'IN FLIGHT', 'LAST SEEN', 'QUEUED', 'RUNNING'];

/** The total row shows the model's own queue: jobs of batches naming it, waiting and running. */
function rowsOf(model: FleetModel): string[][] {
  const workers = model.workers.map((worker) => [model.modelId, worker.workerId, worker.engine, worker.device, String(worker.slots), String(worker.imagesPerSecond), String(worker.jobsInFlight), worker.lastSeen, '', '']);
  const { totals, queue } = model;
  const depth = queue ? [String(queue.waiting), String(queue.active)] : ['', ''];
  return [...workers, [model.modelId, `(${totals.workers} workers)`, '', '', String(totals.slots), String(totals.imagesPerSecond), '', '', ...depth]];
}

/** `imagefleet fleet`: the models the fleet serves now (and those jobs wait for), a line per live worker and a total per model. */
export async function showFleet(client: ApiClient, json: boolean): Promise<number> {
  const { models } = await client.fleetModels();
  if (json) process.stdout.write(`${JSON.stringify(models, null, 2)}\n`);
  else if (models.length === 0) process.stdout.write('no live workers\n');
  else process.stdout.write(formatTable(COLUMNS, models.flatMap(rowsOf)));
  return ExitCode.ok;
}
