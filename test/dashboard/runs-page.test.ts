/**
 * The Runs page against a real local stack, in a real browser (Chromium through playwright-core): a prime count
 * started from the page's form goes through the Lambda invoke API to the primes-fanout function, which fans it out
 * to the worker function and saves the run's timeline to S3; the page then shows the exact count and the timeline
 * image, and lists the run. A bad range is refused in words. Screenshots go to .screenshots/runs-*.png.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
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

  it('starts a prime count of [1e8, 1.01e8) in 4 chunks on Lambda and shows 54,208, the timeline and the run in the list', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(dashboardLoginUrl(stack.state));
    await Promise.all([page.waitForURL(/\/runs$/), page.click('nav a:text-is("Runs")')]);
    expect(await page.locator('#runs tbody tr').count()).toBe(0);
    await page.fill('#start', '100000000');
    await page.fill('#end', '101000000');
    await page.fill('#chunks', '4');
    await page.check('input[name=backend][value=lambda]');
    await page.click('#start-form button[type=submit]');
    // The running state, for its screenshot: the run may be over before the first poll on a fast machine.
    const running = await page
      .locator('#start-status', { hasText: /running for [1-9]/ })
      .waitFor({ timeout: 5_000 })
      .then(() => true)
      .catch(() => false);
    if (running) await screenshot(page, 'runs-running');
    await page.waitForURL(/\/runs\?run=/, { timeout: 120_000 });
    const runId = new URL(page.url()).searchParams.get('run')!;

    expect(await page.locator('#run-count').textContent()).toBe('54,208');
    const image = page.locator('#timeline');
    await expect.poll(() => image.evaluate(decodedWidth), { timeout: 10_000 }).toBeGreaterThan(0);
    const alt = (await image.getAttribute('alt')) ?? '';
    expect(alt).toContain('4 chunks of [100,000,000, 101,000,000) on lambda');
    await screenshot(page, 'runs-result');

    // The figures are summary.json's, as the fan-out saved it to S3.
    const summary = await readS3Json(`results/primes/${runId}/summary.json`);
    expect(summary).toMatchObject({ runId, count: 54_208, chunks: 4, backend: 'lambda', complete: true });
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
    expect(await firstRow.textContent()).toContain('54,208');
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
