/**
 * The Scrapes page against a real local stack, in Chromium: after the demo's scrape (4 cities × 20 businesses from
 * the stack's Yelp fixture, through the CLI) the page shows the document count MongoDB holds and the businesses in
 * name order, a page at a time, paged with the keyboard; the form starts a scrape on the scrape function (through
 * serverless-offline's invoke API) and shows its outcome in words; a refused form says why. Screenshots go to
 * .screenshots/scrapes-*.png.
 */
import { MongoClient } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { dashboardLoginUrl } from '../../local-stack/stack.ts';
import { chromiumMissing, screenshot, useChromium } from '../support/browser.ts';
import { runCli, useLocalStack } from '../support/stack.ts';

const stack = useLocalStack({
  s3: 21569,
  lambda: 21302,
  ec2: 21570,
  mongo: 21017,
  api: 21575,
  http: 21300,
  dashboard: 21580,
});

const CITIES = 'San Francisco, CA; New York, NY; Chicago, IL; Austin, TX';

/** The stored businesses' names in MongoDB's order for the page (name, then _id), read with the driver. */
async function storedBusinessNames(): Promise<string[]> {
  const client = await new MongoClient(stack.state.mongoUri).connect();
  try {
    const documents = await client
      .db('cloud_parallel')
      .collection<{ _id: string; data: { name: string } }>('businesses')
      .find({ source: 'yelp' })
      .toArray();
    // Sorted here, not by the server: MongoDB compares strings by their UTF-8 bytes, which for these names is
    // JavaScript's code-unit order.
    return documents
      .sort((a, b) => (a.data.name === b.data.name ? (a._id < b._id ? -1 : 1) : a.data.name < b.data.name ? -1 : 1))
      .map((document) => document.data.name);
  } finally {
    await client.close();
  }
}

const missing = chromiumMissing();
if (missing !== undefined) console.warn(`browser tests skipped: ${missing}`);

describe.skipIf(missing !== undefined)(`the Scrapes page in Chromium${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const browser = useChromium();
  let names: string[];

  beforeAll(async () => {
    const { stdout } = await runCli(stack, ['scrape', '--source', 'yelp', '--cities', CITIES, '--json']);
    expect(JSON.parse(stdout)).toMatchObject({ fetched: 80, upserted: 80, documents: 80 });
    names = await storedBusinessNames();
    expect(names).toHaveLength(80);
  }, 120_000);

  it('shows the 80 scraped businesses, the run, and pages through them with the keyboard', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(dashboardLoginUrl(stack.state));
    await page.getByRole('link', { name: 'Scrapes', exact: true }).click();
    await page.waitForURL(/\/scrapes$/);
    expect(await page.locator('[data-count="yelp"]').getAttribute('value')).toBe('80');
    expect(await page.locator('#scrape-runs tbody').textContent()).toContain(
      'fetched 80, upserted 80, modified 0, unchanged 0, failed 0',
    );
    expect(await page.locator('#documents caption').textContent()).toBe('Yelp businesses 1–25 of 80 (page 1 of 4)');
    const firstColumn = () => page.locator('#documents tbody tr td:first-child').allTextContents();
    expect(await firstColumn()).toEqual(names.slice(0, 25));
    // Every row has a city, a rating from 0 to 5 and a review count.
    const cells = await page
      .locator('#documents tbody tr')
      .evaluateAll((rows) =>
        rows.map((row) =>
          Array.from(Reflect.get(row, 'cells') as ArrayLike<{ textContent: string }>, (c) => c.textContent),
        ),
      );
    for (const [, city, rating, reviews] of cells) {
      expect(city).toMatch(/\S/);
      expect(Number(rating)).toBeGreaterThanOrEqual(0);
      expect(Number(rating)).toBeLessThanOrEqual(5);
      expect(reviews).toMatch(/^[\d,]+$/);
    }
    await screenshot(page, 'scrapes-page-1');

    // Keyboard only: focus "Next" and press Enter, twice, then the last page's link.
    await page.getByRole('link', { name: 'Next' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(/page=2/);
    expect(await firstColumn()).toEqual(names.slice(25, 50));
    await page.getByRole('link', { name: 'Page 4' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(/page=4/);
    expect(await page.locator('#documents caption').textContent()).toBe('Yelp businesses 76–80 of 80 (page 4 of 4)');
    expect(await firstColumn()).toEqual(names.slice(75));
    expect(await page.getByRole('link', { name: 'Next' }).count()).toBe(0);
    await screenshot(page, 'scrapes-page-4');
  });

  it('starts an HN scrape from the form and shows its outcome; a bad range is refused in words', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(dashboardLoginUrl(stack.state));
    await page.goto(`${stack.state.dashboardUrl}/scrapes`);
    await page.getByLabel('Hacker News items by id').check();
    await page.getByLabel(/HN: item ids/).fill('5-1');
    await page.getByRole('button', { name: 'Start the scrape' }).click();
    await expect
      .poll(() => page.locator('#form-status').textContent())
      .toContain('ids range "5-1" must go from a positive id');
    await screenshot(page, 'scrapes-form-refused');

    await page.getByLabel(/HN: item ids/).fill('1-5');
    await page.getByRole('button', { name: 'Start the scrape' }).click();
    await page.waitForURL(/source=hn&job=/);
    const outcome = page.locator('#scrape-outcome');
    await outcome.waitFor({ timeout: 60_000 });
    expect(await outcome.textContent()).toMatch(
      /^Done in \d+\.\d s: 5 items on Hacker News: fetched 5, upserted 5, modified 0, unchanged 0, failed 0\.$/,
    );
    expect(await page.locator('[data-count="hn"]').getAttribute('value')).toBe('5');
    expect(await page.locator('#documents tbody tr td:first-child').allTextContents()).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
    ]);
    // The Lambda's run is recorded too: the newest run is this one.
    expect(await page.locator('#scrape-runs tbody tr:first-child').textContent()).toContain('5 items, 1–5');
    await screenshot(page, 'scrapes-started');
  }, 120_000);
});
