import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium (apt package `chromium`; .ci/run installs it); CHROMIUM_PATH overrides. No browser download. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Screenshots and downloads of browser tests (gitignored). */
export const ARTIFACTS_DIR = new URL('../../../test-artifacts/console/', import.meta.url).pathname;

/** Launches chromium headless; a missing browser fails the test (CI installs it), it is never a skip. */
export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM_PATH), `chromium is not installed at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`);
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--no-sandbox'] });
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** WCAG 2 A/AA violations axe-core finds on the page as it is now (injected over CDP, so the page's CSP does not apply). */
export async function accessibilityViolations(page: Page): Promise<AxeViolation[]> {
  const axe = createRequire(import.meta.url)('axe-core') as { source: string };
  await page.evaluate(axe.source);
  return page.evaluate(`axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }).then((result) => result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => String(n.target)) })))`);
}

/** The accessible name (aria-label or text) of the focused element. */
export async function focusedName(page: Page): Promise<string> {
  return page.evaluate(`(document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.textContent ?? '').trim()`);
}
