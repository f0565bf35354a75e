/**
 * The Runs page against a real local stack, in a real browser (Chromium through playwright-core): a prime count
 * started from the page's form goes through the Lambda invoke API to the primes-fanout function, which fans it out
 * to the worker function, publishes its progress.json as chunks finish, and saves the run's timeline to S3; the page
 * shows chunks done of total while it runs, then the exact count and the timeline image, and lists the run. A bad
 * range is refused in words. Screenshots go to .screenshots/runs-*.png.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../lib/aws/s3.ts';
import { dashboardLoginUrl } from '../../local-stack/stack.ts';
import { chromiumMissing, screenshot, useChromium } from '../support/browser.ts';
import { useLocalStack } from '../support/stack.ts';

const stack = useLocalStack({
  s3: 23569,
  lambda: 23302,
  ec2: 23570,
  mongo: 23017,
  api: 23575,
  http: 23300,
  dashboard: 23580,
});

const bucket = () => stack.state.service.environment.DATA_BUCKET ?? stack.state.service.buckets[0]!;

async function readS3Json(key: string): Promise<Record<string, unknown>> {
  const object = await createS3Client().send(new GetObjectCommand({ Bucket: bucket(), Key: key }));
  return JSON.parse(await object.Body!.transformToString()) as Record<string, unknown>;
}

/** An <img>'s decoded width, 0 until it has loaded (runs in the page; the project's types have no DOM). */
function decodedWidth(img: unknown): number {
  const { complete, naturalWidth } = img as { complete: boolean; naturalWidth: number };
  return complete ? naturalWidth : 0;
}

interface ProgressSeen {
  text: string;
  value: number;
  max: number;
}

type Element = { textContent: string | null; hidden: boolean; getAttribute(name: string): string | null };

/** The form's status line and bar at one instant (runs in the page; the project's types have no DOM). */
function formProgress(form: unknown): ProgressSeen | null {
  const find = (selector: string) => (form as { querySelector(s: string): Element }).querySelector(selector);
  const [row, bar, status] = [find('#start-progress-row'), find('#start-progress'), find('#start-status')];
  const value = bar.getAttribute('value');
  if (row.hidden || value === null) return null;
  return { text: status.textContent ?? '', value: Number(value), max: Number(bar.getAttribute('max') ?? 1) };
}

/**
 * The form's progress as the page showed it, read every 100 ms until the page moves on to the finished run; the
 * first state with some but not all chunks done is the "runs-progress" screenshot.
 */
async function watchProgress(page: Page): Promise<ProgressSeen[]> {
  const seen: ProgressSeen[] = [];
  let shot = false;
  const deadline = Date.now() + 120_000;
  while (!/\/runs\?run=/.test(page.url())) {
    if (Date.now() > deadline) throw new Error(`the run did not finish in 120 s; seen: ${JSON.stringify(seen)}`);
    // Null also when the page navigated to the finished run during the read: the loop condition then ends it.
    const one = await page
      .locator('#start-form')
      .evaluate(formProgress)
      .catch(() => null);
    if (one !== null && JSON.stringify(one) !== JSON.stringify(seen.at(-1))) seen.push(one);
    if (one !== null && !shot && one.value > 0 && one.value < one.max) {
      shot = true;
      await screenshot(page, 'runs-progress');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await page.waitForLoadState();
  return seen;
}

describe('the Runs page over HTTP (no browser)', () => {
  it('refuses a bad range with 400 and the fan-out schema’s message, before invoking anything', async () => {
    const login = await fetch(dashboardLoginUrl(stack.state), { redirect: 'manual' });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const response = await fetch(`${stack.state.dashboardUrl}/runs/start`, {
      method: 'POST',
      headers: {
        cookie,
        origin: stack.state.dashboardUrl,
        accept: 'application/json',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ start: '10', end: '10', chunks: '2', chunkSize: '3', backend: 'lambda' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'The run was refused: chunks: give chunks or chunkSize, not both' });
  });
});

const missing = chromiumMissing();
if (missing !== undefined) console.warn(`browser tests skipped: ${missing}`);

describe.skipIf(missing !== undefined)(`the Runs page in Chromium${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const browser = useChromium();

  it('starts a prime count of [0, 1e10) in 8 chunks on Lambda, shows chunks done as they finish, then 455,052,511, the timeline and the run in the list', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(dashboardLoginUrl(stack.state));
    await Promise.all([page.waitForURL(/\/runs$/), page.click('nav a:text-is("Runs")')]);
    expect(await page.locator('#runs tbody tr').count()).toBe(0);
    await page.fill('#start', '0');
    await page.fill('#end', '10000000000');
    await page.fill('#chunks', '8');
    await page.check('input[name=backend][value=lambda]');
    // Big enough to take a few seconds here (π(1e10) sieved in 8 worker invocations), so the page polls it running.
    await page.click('#start-form button[type=submit]');
    const seen = await watchProgress(page);
    const runId = new URL(page.url()).searchParams.get('run')!;

    // While it ran, the page showed its progress.json: the bar labelled, at done of 8, and the live line in words.
    const running = seen.filter((state) => state.max === 8 && state.value < 8);
    expect(running.length, JSON.stringify(seen)).toBeGreaterThan(0);
    for (const state of running) expect(state.text).toContain(`chunks ${state.value} of 8 done · `);
    expect(await page.getByLabel('Chunks done').evaluate((bar) => String(Reflect.get(bar as object, 'tagName')))).toBe(
      'PROGRESS',
    );
    expect(await page.locator('#start-status').getAttribute('aria-live')).toBe('polite');
    // The fan-out kept its last state: every chunk done, the primes the run counted.
    expect(await readS3Json(`results/primes/${runId}/progress.json`)).toMatchObject({
      runId,
      state: 'done',
      chunks: { total: 8, done: 8, failed: 0 },
      numbersCounted: 1e10,
      primes: 455_052_511,
    });

    expect(await page.locator('#run-count').textContent()).toBe('455,052,511');
    const image = page.locator('#timeline');
    await expect.poll(() => image.evaluate(decodedWidth), { timeout: 10_000 }).toBeGreaterThan(0);
    const alt = (await image.getAttribute('alt')) ?? '';
    expect(alt).toContain('8 chunks of [0, 10,000,000,000) on lambda');
    await screenshot(page, 'runs-result');

    // The figures are summary.json's, as the fan-out saved it to S3.
    const summary = await readS3Json(`results/primes/${runId}/summary.json`);
    // π(1e10) = 455,052,511, a known count (/work/shared/README.md), not this code's output.
    expect(summary).toMatchObject({ runId, count: 455_052_511, chunks: 8, backend: 'lambda', complete: true });
    const shown = Object.fromEntries(
      await page
        .locator('[data-figure]')
        .evaluateAll((cells) => cells.map((cell) => [cell.getAttribute('data-figure'), cell.getAttribute('value')])),
    ) as Record<string, string>;
    for (const name of ['count', 'chunks', 'failedChunks', 'attempts', 'maxBusy', 'wallMs', 'workerMs', 'speedup'])
      expect(Number(shown[name]), name).toBe(summary[name]);
    const links = await page.locator('#run-files a').evaluateAll((as) => as.map((a) => String(Reflect.get(a, 'href'))));
    expect(links).toHaveLength(4);
    for (const link of links) expect((await page.request.get(link)).status(), link).toBe(200);

    // The run is in the list, newest first, with its count.
    const firstRow = page.locator('#runs tbody tr').first();
    expect(await firstRow.locator('a').textContent()).toBe(runId);
    expect(await firstRow.textContent()).toContain('455,052,511');
    await screenshot(page, 'runs-list');
  });

  it('refuses a range whose end is not after its start, in words, and starts nothing', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(dashboardLoginUrl(stack.state));
    await page.goto(`${stack.state.dashboardUrl}/runs`);
    const before = await page.locator('#runs tbody tr').count();
    await page.fill('#start', '101000000');
    await page.fill('#end', '100000000');
    await page.click('#start-form button[type=submit]');
    const status = page.locator('#start-status');
    await expect.poll(() => status.textContent(), { timeout: 10_000 }).toContain('start must be ≤ end');
    expect(await status.textContent()).toBe('The run was refused: start must be ≤ end (the range is [start, end))');
    expect(await status.getAttribute('class')).toContain('error');
    expect(new URL(page.url()).search).toBe('');
    await screenshot(page, 'runs-error');
    await page.reload();
    expect(await page.locator('#runs tbody tr').count()).toBe(before);
  });
});
