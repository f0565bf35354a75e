/**
 * A real browser for the dashboard's tests: Debian's Chromium driven by playwright-core (which downloads nothing),
 * headless, with a fresh profile per test file and the flags that keep it off a network it does not have
 * (/work/shared/README.md: without the background-networking flags Chromium floods the closed network).
 */
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { PROJECT_ROOT } from '../../local-stack/service-config.ts';

export const CHROMIUM = process.env.CLOUD_PARALLEL_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why the browser tests cannot run here (no Chromium), or undefined when they can. */
export function chromiumMissing(): string | undefined {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return undefined;
  } catch {
    return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CLOUD_PARALLEL_CHROMIUM)`;
  }
}

/** Where screenshots go (git-ignored): the pages as the tests saw them. */
export const SCREENSHOT_DIR = path.join(PROJECT_ROOT, '.screenshots');

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Launches Chromium for one test file and closes it after; each call of `newContext` is a fresh profile
 * (its own --user-data-dir: no cookie carries over). Call the result inside tests only.
 */
export function useChromium(): { newContext: () => Promise<BrowserContext> } {
  const opened: { context: BrowserContext; dir: string }[] = [];
  beforeAll(() => {
    const missing = chromiumMissing();
    if (missing !== undefined) throw new Error(missing);
  });
  afterAll(async () => {
    for (const { context, dir } of opened) {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return {
    newContext: async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'cp-chromium-'));
      const context = await chromium.launchPersistentContext(dir, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_FLAGS,
        viewport: { width: 1280, height: 800 },
      });
      opened.push({ context, dir });
      return context;
    },
  };
}
