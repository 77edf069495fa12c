import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { startTestFleet } from '../helpers/test-fleet.js';
import { apiKey } from '../helpers/http.js';
import { syntheticPhoto } from '../helpers/images.js';
import { ARTIFACTS_DIR, focusedName } from '../helpers/browser.js';
import { CONSOLE_WAIT_MS as WAIT_MS, assertAccessible, openConsole as openConsolePage, resultCards, signInByKeyboard, startConsoleFleet, summaryValue, waitForBatchState } from '../helpers/console-page.js';

/**
 * The web console in a real browser (Debian's chromium through playwright-core) against a real
 * fleet: the producer listening on a port, an inspect worker, API keys on.
 */
const GOOD = ['good-0.jpg', 'good-1.jpg', 'good-2.jpg', 'good-3.jpg', 'good-4.jpg'];
const BAD: Record<string, string> = { 'empty.jpg': 'empty', 'text.jpg': 'not_an_image' };

let consoleFleet: Awaited<ReturnType<typeof startConsoleFleet>>;
let folder: string;
let fleet: Awaited<ReturnType<typeof startTestFleet>>;
let baseUrl: string;
let browser: Browser;
let user: Awaited<ReturnType<typeof apiKey>>;
/** Set by the first test: the batch the console submitted. */
let batchId = '';

before(async () => {
  folder = await mkdtemp(join(tmpdir(), 'imagefleet-console-'));
  for (const [index, name] of GOOD.entries()) await writeFile(join(folder, name), await syntheticPhoto(index, 640, 480));
  await writeFile(join(folder, 'empty.jpg'), Buffer.alloc(0));
  await writeFile(join(folder, 'text.jpg'), 'a text file wearing a .jpg name');
  await writeFile(join(folder, 'notes.txt'), 'skipped by extension');
  consoleFleet = await startConsoleFleet(folder);
  ({ fleet, baseUrl, browser } = consoleFleet);
  user = await apiKey(fleet.producer, ['submit', 'read'], 'catalog-team');
});

after(() => consoleFleet?.close());

const openConsole = (width = 1280) => openConsolePage(browser, baseUrl, width);

test('submit a folder batch, watch it finish, open a result, filter failures, download JSONL and CSV', async () => {
  const page = await openConsole();
  await assertAccessible(page, 'sign-in page');
  await signInByKeyboard(page, user.token);

  await page.getByRole('link', { name: 'New batch' }).first().click();
  for (const label of ['Task', 'Folder path', 'Options (JSON)', 'Model', 'Priority (1-10)']) assert.equal(await page.getByLabel(label).count(), 1, `a control labelled ${label}`);
  await assertAccessible(page, 'new-batch form');
  await page.getByLabel('Task').selectOption('inspect');
  await page.getByLabel('Folder path').fill(folder);
  // The model list is the fleet's (GET /v1/models): the model-free worker serves "none". A model
  // on a pixel task is the API's 400, shown in the form; "Any worker" sends no model.
  await page.getByLabel('Model').locator('option[value="none"]').waitFor({ state: 'attached', timeout: WAIT_MS });
  await page.getByLabel('Model').selectOption('none');
  await page.getByRole('button', { name: 'Submit batch' }).click();
  await page.getByRole('alert').filter({ hasText: 'model applies to model tasks only' }).waitFor();
  await page.getByLabel('Model').selectOption({ label: 'Any worker' });
  await page.getByRole('button', { name: 'Submit batch' }).click();
  await page.waitForURL(/#\/batches\//);
  batchId = decodeURIComponent(new URL(page.url()).hash.replace('#/batches/', ''));

  await waitForBatchState(page, 'completed with errors');
  await resultCards(page).nth(GOOD.length + Object.keys(BAD).length - 1).waitFor({ timeout: WAIT_MS });
  assert.equal(await resultCards(page).count(), GOOD.length + Object.keys(BAD).length);
  await page.locator('.grid img.thumb').nth(GOOD.length - 1).waitFor({ timeout: WAIT_MS });
  assert.equal(await page.locator('.grid img.thumb').count(), GOOD.length, 'a thumbnail for every image');
  assert.match(await page.getByRole('button', { name: 'Open result empty.jpg' }).innerText(), /no preview \(empty\)/);
  assert.equal(await page.getByRole('button', { name: 'Retry failed' }).isEnabled(), true, 'failed inputs can be retried');
  assert.equal(await page.getByRole('button', { name: 'Cancel' }).isDisabled(), true, 'a finished batch cannot be cancelled');
  assert.equal(await summaryValue(page, 'Priority').innerText(), '1');
  assert.equal(await summaryValue(page, 'Cached').innerText(), '0 (0 % hit rate)', 'a pixel task is never answered from the result cache');
  await assertAccessible(page, 'batch page');

  // Open a result from the keyboard; Escape closes it and gives focus back to its card.
  await page.getByRole('button', { name: 'Open result good-0.jpg' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'good-0.jpg' });
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /width\s+640/);
  assert.equal(await dialog.locator('img.thumb').count(), 1, 'the result beside its image');
  await assertAccessible(page, 'result dialog');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await focusedName(page), 'Open result good-0.jpg');

  await page.getByLabel('Show').selectOption({ label: 'Failed: empty (1)' });
  assert.equal(await resultCards(page).count(), 1);
  assert.match(await resultCards(page).first().innerText(), /empty\.jpg[\s\S]*empty/);
  await page.getByLabel('Show').selectOption({ label: 'Failed (2)' });
  assert.equal(await resultCards(page).count(), 2);
  await page.getByLabel('Show').selectOption({ label: 'All (7)' });

  const [jsonl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download JSONL' }).click()]);
  const lines = (await readFile(await jsonl.path(), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { key: string; status: string; error?: { code: string } });
  const outcomes = Object.fromEntries(lines.filter((line) => line.status !== 'skipped').map((line) => [line.key, line.error?.code ?? line.status]));
  assert.deepEqual(outcomes, { ...Object.fromEntries(GOOD.map((name) => [name, 'ok'])), ...BAD });
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  assert.equal(csv.suggestedFilename(), `${batchId}.csv`);
  const csvText = await readFile(await csv.path(), 'utf8');
  assert.match(csvText, /^key,status,error_code,error_message,/);
  assert.match(csvText, /^empty\.jpg,failed,empty,/m);

  await page.screenshot({ path: `${ARTIFACTS_DIR}batch-1280.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${ARTIFACTS_DIR}batch-390.png`, fullPage: true });
  await page.getByRole('link', { name: 'Batches' }).click();
  await page.getByRole('link', { name: batchId }).waitFor();
  await page.screenshot({ path: `${ARTIFACTS_DIR}batches-390.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: `${ARTIFACTS_DIR}batches-1280.png`, fullPage: true });
  await page.context().close();
});

test('an upload shows its result beside the image when it is ready', async () => {
  const page = await openConsole();
  await signInByKeyboard(page, user.token);
  await page.getByRole('link', { name: 'Upload' }).click();
  await page.getByLabel('Image', { exact: true }).setInputFiles({ name: 'shelf.jpg', mimeType: 'image/jpeg', buffer: await syntheticPhoto(42, 800, 600) });
  await page.getByLabel('Task').selectOption('inspect');
  await page.getByLabel('Model').locator('option[value="none"]').waitFor({ state: 'attached', timeout: WAIT_MS });
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByTestId('job-state').filter({ hasText: /^completed$/ }).waitFor({ timeout: WAIT_MS });
  await page.locator('.job img.thumb').waitFor({ timeout: WAIT_MS });
  assert.match(await page.locator('.job').innerText(), /width\s+800/);
  await page.screenshot({ path: `${ARTIFACTS_DIR}upload-1280.png`, fullPage: true });
  await page.context().close();
});

test("another key sees neither the batch nor its results; a wrong key is refused at sign-in", async () => {
  const page = await openConsole();
  await page.getByLabel('API key').fill('ifk_nope_nope');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
  const stranger = await apiKey(fleet.producer, ['read'], 'accounting');
  await page.reload();
  await signInByKeyboard(page, stranger.token);
  await page.getByText('No batches yet').waitFor();
  await page.goto(`${baseUrl}/#/batches/${encodeURIComponent(batchId)}`);
  await page.getByRole('alert').filter({ hasText: 'Not found, or not visible with this key.' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'Queues' }).count(), 0, 'no queue administration without admin scope');
  await page.context().close();
});

test('an admin key opens bull-board from the console; the API docs page renders', async () => {
  const admin = await apiKey(fleet.producer, ['admin'], 'operator');
  const page = await openConsole();
  await signInByKeyboard(page, admin.token);
  await page.getByRole('link', { name: batchId }).waitFor({ timeout: WAIT_MS });
  await page.getByRole('link', { name: 'Queues' }).click();
  await page.waitForURL(/\/admin\/queues/);
  await page.getByText('finalize', { exact: true }).first().waitFor({ timeout: WAIT_MS });
  await page.screenshot({ path: `${ARTIFACTS_DIR}admin-queues-1280.png` });
  await page.goto(`${baseUrl}/docs/`);
  await page.getByText('imagefleet API').first().waitFor({ timeout: WAIT_MS });
  await page.getByText('/v1/batches/{id}/thumbnail').first().waitFor();
  await page.context().close();
});
