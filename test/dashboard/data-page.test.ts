/**
 * The dashboard against a real local stack, in a real browser (Chromium through playwright-core): the Data page
 * uploads a CSV through the stack's S3 trigger and shows what the run wrote to S3; a bad file's error shows in words;
 * a browser without the login cookie, and a page of another site, are refused. Screenshots go to .screenshots/.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../lib/aws/s3.ts';
import { dashboardLoginUrl } from '../../local-stack/stack.ts';
import { chromiumMissing, screenshot, useChromium } from '../support/browser.ts';
import { runCli, useLocalStack } from '../support/stack.ts';

const stack = useLocalStack({
  s3: 24569,
  lambda: 24302,
  ec2: 24570,
  mongo: 24017,
  api: 24575,
  http: 24300,
  dashboard: 24580,
});

const bucket = () => stack.state.service.environment.DATA_BUCKET ?? stack.state.service.buckets[0]!;

async function readS3Json(key: string): Promise<Record<string, unknown>> {
  const object = await createS3Client().send(new GetObjectCommand({ Bucket: bucket(), Key: key }));
  return JSON.parse(await object.Body!.transformToString()) as Record<string, unknown>;
}

/** 200 rows of `cases / people`, with a text in line 4 and an empty field in line 9 (line 1 is the header). */
function goodCsv(): string {
  const lines = ['county,cases,people'];
  for (let i = 1; i <= 200; i++) lines.push(`c${i},${(i * 37) % 101},${1000 + i * 13}`);
  lines[3] = 'c3,many,1039';
  lines[8] = 'c8,,1104';
  return `${lines.join('\n')}\n`;
}

/** An <img>'s decoded width, 0 until it has loaded (runs in the page; the project's types have no DOM). */
function decodedWidth(img: unknown): number {
  const { complete, naturalWidth } = img as { complete: boolean; naturalWidth: number };
  return complete ? naturalWidth : 0;
}

describe('the dashboard over HTTP (no browser)', () => {
  it('`local status` prints its login URL on a line starting with "dashboard", `local env` exports it, and it logs in', async () => {
    const status = (await runCli(stack, ['local', 'status'])).stdout;
    const printed = /^dashboard +(http:\/\/127\.0\.0\.1:24580\/\?token=[\w-]{43}) /m.exec(status)?.[1];
    expect(printed, status).toBeDefined();
    const env = (await runCli(stack, ['local', 'env'])).stdout;
    expect(env).toContain(`export CLOUD_PARALLEL_DASHBOARD_URL="${printed}"`);
    const login = await fetch(printed!, { redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(login.headers.get('set-cookie')).toMatch(/^cp_dashboard_24580=[\w-]{43};/);
  });

  it('answers 401 without the login cookie and 403 to a wrong token', async () => {
    const base = stack.state.dashboardUrl;
    expect((await fetch(`${base}/data`)).status).toBe(401);
    expect((await fetch(`${base}/?token=not-the-token`, { redirect: 'manual' })).status).toBe(403);
    expect((await fetch(`${base}/static/data.js`)).status).toBe(401);
  });

  it('swaps the printed URL’s token for an HttpOnly, SameSite=Strict cookie and redirects to the clean URL', async () => {
    const login = await fetch(dashboardLoginUrl(stack.state), { redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/');
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const session = cookie.split(';')[0]!;
    const page = await fetch(`${stack.state.dashboardUrl}/data`, { headers: { cookie: session } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    // With the cookie, still refused: another Host (DNS rebinding), a cross-site mark, a POST from another origin.
    const rebound = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${stack.state.dashboardUrl}/data`);
      http
        .get({
          host: url.hostname,
          port: url.port,
          path: '/data',
          headers: { host: 'evil.example:80', cookie: session },
        })
        .on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(rebound).toBe(403);
    const crossSite = await fetch(`${stack.state.dashboardUrl}/data`, {
      headers: { cookie: session, 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);
    const foreignPost = await fetch(`${stack.state.dashboardUrl}/data/uploads?name=x.csv`, {
      method: 'POST',
      headers: { cookie: session, origin: 'http://evil.example' },
      body: 'a,b\n1,2\n',
    });
    expect(foreignPost.status).toBe(403);
  });
});

const missing = chromiumMissing();
if (missing !== undefined) console.warn(`browser tests skipped: ${missing}`);

describe.skipIf(missing !== undefined)(`the Data page in Chromium${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const browser = useChromium();
  let evil: http.Server;
  let evilUrl: string;

  beforeAll(async () => {
    // Another site: `localhost` is a different site from 127.0.0.1, where the dashboard is.
    evil = http.createServer((_req, res) => {
      const target = `${stack.state.dashboardUrl}/data/uploads?name=evil.csv`;
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(
        `<!doctype html><form id="f" method="post" action="${target}" enctype="text/plain">` +
          `<input name="a" value="b"></form><a id="link" href="${stack.state.dashboardUrl}/data">dashboard</a>`,
      );
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    evilUrl = `http://localhost:${(evil.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((resolve) => evil.close(() => resolve())));

  it('uploads a CSV and shows the histogram, the statistics of summary.json and the bad rows', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(dashboardLoginUrl(stack.state));
    expect(new URL(page.url()).pathname).toBe('/data');
    expect(page.url()).not.toContain('token');
    await page.setInputFiles('#file', {
      name: 'browser-counties.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(goodCsv()),
    });
    await page.fill('#numerator', 'cases');
    await page.fill('#denominator', 'people');
    await page.fill('#bins', '12');
    await page.click('button[type=submit]');
    await page.waitForURL(/upload=uploads%2Fbrowser-counties\.csv/, { timeout: 60_000 });
    const image = page.locator('#histogram');
    await image.waitFor();
    await expect.poll(() => image.evaluate(decodedWidth), { timeout: 10_000 }).toBeGreaterThan(0);
    await screenshot(page, 'data-result');

    const summary = (await readS3Json('results/browser-counties/summary.json')) as {
      rows: number;
      options: { bins: number };
      stats: Record<string, number>;
      histogram: { counts: number[] };
      badRows: { count: number; samples: { line: number }[] };
    };
    expect(summary.options.bins).toBe(12);
    expect(summary.histogram.counts).toHaveLength(12);
    const shown = Object.fromEntries(
      await page
        .locator('[data-stat]')
        .evaluateAll((cells) =>
          cells.map((cell) => [cell.getAttribute('data-stat'), Number(cell.getAttribute('value'))]),
        ),
    ) as Record<string, number>;
    expect(shown).toEqual({ ...summary.stats, rows: summary.rows, badRows: summary.badRows.count });
    expect(shown.rows).toBe(198);
    const badLines = await page.locator('#bad-rows tbody tr td:first-child').allTextContents();
    expect(badLines.map(Number)).toEqual([4, 9]);
    expect(badLines.map(Number)).toEqual(summary.badRows.samples.map((bad) => bad.line));
    const links = await page
      .locator('#result-files a')
      .evaluateAll((as) => as.map((a) => String(Reflect.get(a, 'href'))));
    for (const link of links) expect((await page.request.get(link)).status(), link).toBe(200);
    expect(await page.locator('#uploads').textContent()).toContain('uploads/browser-counties.csv');
  });

  it('drops a file without the columns and shows its error.json in words', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(dashboardLoginUrl(stack.state));
    // The page's own drop handler gets the file, as from a file manager (the DOM's types: a string runs in the page).
    const dropped = await page.evaluateHandle(`(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(['name,score\\nx,1\\n'], 'no-columns.csv', { type: 'text/csv' }));
      return transfer;
    })()`);
    await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: dropped });
    await page.click('button[type=submit]');
    await page.waitForURL(/upload=uploads%2Fno-columns\.csv/, { timeout: 60_000 });
    const report = (await readS3Json('results/no-columns/error.json')) as { error: { code: string; message: string } };
    const text = await page.locator('#run-error').textContent();
    expect(text).toBe(`The run failed (${report.error.code}): ${report.error.message}`);
    expect(report.error.code).toBe('MISSING_COLUMN');
    await screenshot(page, 'data-error');
  });

  it('refuses a browser without the login cookie, and requests from another site', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const anonymous = await page.goto(`${stack.state.dashboardUrl}/data`);
    expect(anonymous?.status()).toBe(401);
    await screenshot(page, 'refused-without-token');
    // Logged in, then lured to another site whose page posts to the dashboard and links to it.
    await page.goto(dashboardLoginUrl(stack.state));
    await page.goto(evilUrl);
    const [post] = await Promise.all([
      page.waitForNavigation(),
      page.locator('#f').evaluate((form) => Reflect.get(form, 'submit').call(form)),
    ]);
    expect(post?.status()).toBe(403);
    await expect(readS3Json('uploads/evil.csv')).rejects.toThrow();
    await page.goto(evilUrl);
    const [navigation] = await Promise.all([page.waitForNavigation(), page.click('#link')]);
    expect(navigation?.status()).toBe(403);
    await screenshot(page, 'refused-cross-site');
  });
});
