import assert from 'node:assert/strict';
import type { Browser, Locator, Page } from 'playwright-core';
import { StoreRegistry } from '@imagefleet/storage';
import { accessibilityViolations, focusedName, launchChromium } from './browser.js';
import { ensureBucket, startServices } from './services.js';
import { cleanUpFleetTests, startTestFleet } from './test-fleet.js';

/** How long a console test waits for the fleet (listing, workers, finalize) to show something. */
export const CONSOLE_WAIT_MS = 90_000;

/** A fresh browser context (its own sessionStorage: signed out) on the console at `width` px. */
export async function openConsole(browser: Browser, baseUrl: string, width = 1280): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(`${baseUrl}/`);
  return page;
}

/** Signs in from the keyboard alone: Tab to the key field, type, Enter. */
export async function signInByKeyboard(page: Page, token: string): Promise<void> {
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await focusedName(page), 'Skip to content', 'the first Tab stop is the skip link');
  for (let stops = 0; stops < 5 && !(await page.getByLabel('API key').evaluate((element) => element === element.ownerDocument.activeElement)); stops++) await page.keyboard.press('Tab');
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

export const resultCards = (page: Page): Locator => page.getByRole('list', { name: 'Results' }).getByRole('listitem');

export async function assertAccessible(page: Page, where: string): Promise<void> {
  const violations = await accessibilityViolations(page);
  assert.deepEqual(violations, [], `${where}: ${JSON.stringify(violations, null, 1)}`);
}

/** Submits an `inspect` batch of a server folder from the New batch form; returns its id once the batch page is open. */
export async function submitFolderBatch(page: Page, folder: string, priority = 1): Promise<string> {
  await page.getByRole('link', { name: 'New batch' }).first().click();
  await page.getByLabel('Task').selectOption('inspect');
  await page.getByLabel('Folder path').fill(folder);
  await page.getByLabel('Priority (1-10)').fill(String(priority));
  await page.getByRole('button', { name: 'Submit batch' }).click();
  await page.waitForURL(/#\/batches\//);
  const batchId = decodeURIComponent(new URL(page.url()).hash.replace('#/batches/', ''));
  await page.getByRole('heading', { name: `Batch ${batchId}` }).waitFor();
  return batchId;
}

/** The batch page's state, once it reads `state` (a label such as "completed with errors"). */
export async function waitForBatchState(page: Page, state: string, timeout = CONSOLE_WAIT_MS): Promise<void> {
  await page.getByTestId('batch-state').filter({ hasText: new RegExp(`^${state}$`) }).waitFor({ timeout });
}

/** A value of the batch page's summary (the <dd> after the <dt> named `term`). */
export function summaryValue(page: Page, term: string): Locator {
  return page.locator('.summary div').filter({ has: page.locator('dt', { hasText: new RegExp(`^${term}$`) }) }).locator('dd');
}

/**
 * A real fleet for the browser: services, the producer listening on a port (API keys on, folders
 * under `sourceRoot` as sources), one inspect worker, and chromium. `close` undoes all of it and
 * removes `sourceRoot`.
 */
export async function startConsoleFleet(sourceRoot: string) {
  const services = await startServices();
  await Promise.all(['results', 'uploads'].map((bucket) => ensureBucket(services, bucket)));
  const stores = new StoreRegistry(services.s3);
  const prefixes: string[] = [];
  const fleet = await startTestFleet(services, stores, prefixes, { AUTH: 'on', LOCAL_SOURCE_ROOTS: sourceRoot });
  fleet.startWorker();
  const baseUrl = await fleet.producer.app.listen({ host: '127.0.0.1', port: 0 });
  const browser = await launchChromium();
  return {
    fleet,
    baseUrl,
    browser,
    async close() {
      await browser.close();
      await fleet.close();
      await cleanUpFleetTests({ services, stores, prefixes, dir: sourceRoot });
    },
  };
}
