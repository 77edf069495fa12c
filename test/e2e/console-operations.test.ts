import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { startTestFleet } from '../helpers/test-fleet.js';
import { waitForBatchEnd } from '../helpers/producer.js';
import { waitFor } from '../helpers/processes.js';
import { apiKey } from '../helpers/http.js';
import { syntheticPhoto, truncated } from '../helpers/images.js';
import { multiPageImage } from '../helpers/documents.js';
import { ARTIFACTS_DIR } from '../helpers/browser.js';
import { CONSOLE_WAIT_MS, openConsole, resultCards, signInByKeyboard, startConsoleFleet, submitFolderBatch, summaryValue, waitForBatchState } from '../helpers/console-page.js';

/**
 * The console's batch and fleet operations in a real browser against a real fleet: retry failed,
 * pause and resume, cancel, the fleet-wide pause (banner and admin control), the batch list's
 * state filter and "Load more". Batches are held still with the fleet pause, never with sleeps.
 */
const MANY = 12;
/** Batch ids derive from (task, source, options, model): each batch gets a folder of its own. */
const LATER = ['one-0', 'one-1', 'one-2', 'one-3', 'one-4', 'one-5', 'one-6', 'one-7'];

let consoleFleet: Awaited<ReturnType<typeof startConsoleFleet>>;
let root: string;
let fleet: Awaited<ReturnType<typeof startTestFleet>>;
let baseUrl: string;
let browser: Browser;
let user: Awaited<ReturnType<typeof apiKey>>;
let admin: Awaited<ReturnType<typeof apiKey>>;
let pausedBatch = '';
let cancelledBatch = '';

const folder = (name: string) => join(root, name);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'imagefleet-console-ops-'));
  for (const name of ['retry', 'many', 'many-too', ...LATER]) await mkdir(folder(name));
  await writeFile(join(folder('retry'), 'good.jpg'), await syntheticPhoto(1, 640, 480));
  await writeFile(join(folder('retry'), 'broken.jpg'), truncated(await syntheticPhoto(2, 640, 480)));
  await writeFile(join(folder('retry'), 'scan.tif'), await multiPageImage('tiff', [[200, 30, 30], [30, 200, 30], [30, 30, 200]]));
  for (let index = 0; index < MANY; index++) {
    const photo = await syntheticPhoto(index, 320, 240);
    for (const name of ['many', 'many-too']) await writeFile(join(folder(name), `photo-${index}.jpg`), photo);
  }
  for (const name of LATER) await writeFile(join(folder(name), 'only.jpg'), await syntheticPhoto(7, 320, 240));
  consoleFleet = await startConsoleFleet(root);
  ({ fleet, baseUrl, browser } = consoleFleet);
  user = await apiKey(fleet.producer, ['submit', 'read'], 'catalog-team');
  admin = await apiKey(fleet.producer, ['admin'], 'operator');
});

after(() => consoleFleet?.close());

async function signedIn(token: string): Promise<Page> {
  const page = await openConsole(browser, baseUrl);
  await signInByKeyboard(page, token);
  return page;
}

const card = (page: Page, key: string) => page.getByRole('button', { name: `Open result ${key}`, exact: true });

test('retry failed: the corrupt input replaced in the folder, Retry failed finishes the batch clean; a document shows its pages in order', async () => {
  const page = await signedIn(user.token);
  await submitFolderBatch(page, folder('retry'));
  await waitForBatchState(page, 'completed with errors');
  assert.equal(await summaryValue(page, 'Documents').innerText(), '1 (3 pages)');
  await card(page, 'broken.jpg').waitFor({ timeout: CONSOLE_WAIT_MS });
  assert.match(await card(page, 'broken.jpg').innerText(), /corrupt_image/);

  // The document's result: its pages in order, each with its own result.
  await card(page, 'scan.tif').click();
  const dialog = page.getByRole('dialog', { name: 'scan.tif' });
  await dialog.waitFor();
  const pages = dialog.getByRole('list', { name: 'Pages' }).locator(':scope > li');
  assert.equal(await pages.count(), 3);
  for (const [index, text] of (await pages.allInnerTexts()).entries()) assert.match(text, new RegExp(`^Page ${index + 1}: 160×120`));
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });

  await writeFile(join(folder('retry'), 'broken.jpg'), await syntheticPhoto(3, 640, 480));
  await page.getByRole('button', { name: 'Retry failed' }).click();
  await page.getByRole('status').filter({ hasText: 'Retrying 1 failed inputs.' }).waitFor();
  await waitForBatchState(page, 'completed');
  assert.equal(await summaryValue(page, 'Failed').innerText(), '0');
  assert.equal(await summaryValue(page, 'Documents').innerText(), '1 (3 pages)', 'the split document is not run again');
  await card(page, 'broken.jpg').filter({ hasText: /640×480/ }).waitFor({ timeout: CONSOLE_WAIT_MS });
  assert.equal(await page.getByRole('button', { name: 'Retry failed' }).isDisabled(), true, 'nothing left to retry');
  assert.equal(await page.locator('.card-failed').count(), 0, 'no failed card left in the grid');
  await page.context().close();
});

test('the fleet pause shows a banner; a batch paused makes no progress while the fleet works, resumes and completes; another is cancelled', async () => {
  const operator = await signedIn(admin.token);
  const fleetBar = operator.getByTestId('fleet');
  await fleetBar.getByText('The fleet is running.').waitFor();
  operator.once('dialog', (dialog) => void dialog.accept());
  await fleetBar.getByRole('button', { name: 'Pause fleet' }).click();
  await fleetBar.getByText(/^The fleet is paused/).waitFor();

  const page = await signedIn(user.token);
  await page.getByTestId('fleet').getByText(/^The fleet is paused/).waitFor({ timeout: CONSOLE_WAIT_MS });
  assert.equal(await page.getByRole('button', { name: /fleet/ }).count(), 0, 'only admin keys control the fleet');

  // Nothing runs while the fleet is paused: the batch is listed and waits.
  pausedBatch = await submitFolderBatch(page, folder('many'), 3);
  await summaryValue(page, 'Progress').filter({ hasText: new RegExp(`0 / ${MANY}$`) }).waitFor({ timeout: CONSOLE_WAIT_MS });
  assert.equal(await summaryValue(page, 'Priority').innerText(), '3');
  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  await waitForBatchState(page, 'paused');
  await page.getByRole('button', { name: 'Resume', exact: true }).waitFor();

  cancelledBatch = await submitFolderBatch(page, folder('many-too'));
  await summaryValue(page, 'Progress').filter({ hasText: new RegExp(`0 / ${MANY}$`) }).waitFor({ timeout: CONSOLE_WAIT_MS });
  page.once('dialog', (dialog) => void dialog.accept());
  await page.getByRole('button', { name: 'Cancel' }).click();
  await waitForBatchState(page, 'cancelled');
  assert.equal(await page.getByRole('button', { name: 'Cancel' }).isDisabled(), true, 'a cancelled batch cannot be cancelled again');

  await fleetBar.getByRole('button', { name: 'Resume fleet' }).click();
  await fleetBar.getByText('The fleet is running.').waitFor();
  await page.getByTestId('fleet').waitFor({ state: 'detached', timeout: CONSOLE_WAIT_MS });

  // The workers run again: batches submitted now finish while the paused one stays where it was.
  const later: string[] = [];
  for (const name of LATER) later.push(await fleet.submit({ task: 'inspect', source: { local: { path: folder(name) } } }, user.auth));
  const status = async (id: string) => (await fleet.producer.app.inject({ url: `/v1/batches/${id}`, headers: user.auth })).json();
  for (const id of later) assert.equal((await waitForBatchEnd({ status }, id, CONSOLE_WAIT_MS)).state, 'completed');
  await page.goto(`${baseUrl}/#/batches/${encodeURIComponent(pausedBatch)}`);
  await waitForBatchState(page, 'paused');
  assert.equal(await summaryValue(page, 'Completed').innerText(), '0', 'no progress while paused');
  assert.equal(await resultCards(page).count(), 0);
  await page.screenshot({ path: `${ARTIFACTS_DIR}batch-paused-1280.png`, fullPage: true });

  await page.getByRole('button', { name: 'Resume', exact: true }).click();
  await waitForBatchState(page, 'completed');
  assert.equal(await summaryValue(page, 'Completed').innerText(), String(MANY));
  await resultCards(page).nth(MANY - 1).waitFor({ timeout: CONSOLE_WAIT_MS });
  await operator.context().close();
  await page.context().close();
});

test('the batch list filters by state and loads more with the next cursor', async () => {
  const page = await signedIn(user.token);
  const rows = page.getByRole('table').locator('tbody tr');
  await rows.first().waitFor({ timeout: CONSOLE_WAIT_MS });
  const all = (await fleet.producer.app.inject({ url: '/v1/batches?limit=500', headers: user.auth })).json().batches as { id: string }[];
  assert.ok(all.length > 10, `more batches (${all.length}) than a page of the list`);
  assert.equal(await rows.count(), 10, 'one page of 10');
  await page.getByRole('button', { name: 'Load more' }).click();
  await rows.nth(all.length - 1).waitFor();
  assert.equal(await rows.count(), all.length);
  assert.equal(await page.getByRole('button', { name: 'Load more' }).count(), 0, 'the last page has no next cursor');

  await page.getByLabel('State').selectOption({ label: 'cancelled' });
  await rows.filter({ hasText: cancelledBatch }).waitFor();
  // Polled from here (the console's CSP forbids evaluating strings in the page).
  await waitFor(async () => (await rows.count()) === 1, CONSOLE_WAIT_MS, 'the cancelled filter to leave one row');
  await page.getByLabel('State').selectOption({ label: 'paused' });
  await page.getByText('No paused batches.').waitFor();
  await page.getByLabel('State').selectOption({ label: 'completed' });
  await rows.filter({ hasText: pausedBatch }).waitFor();
  assert.equal(await rows.filter({ hasText: cancelledBatch }).count(), 0);
  await page.screenshot({ path: `${ARTIFACTS_DIR}batches-filtered-1280.png`, fullPage: true });
  await page.context().close();
});
