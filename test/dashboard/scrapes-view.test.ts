/**
 * The Scrapes page without a server: which page links a table of N documents draws, the rows and captions the
 * views render (escaped), the form judged as the CLI judges `scrape` flags, and the started scrape's states in words.
 */
import { describe, expect, it } from 'vitest';
import { businessRow, hnRow } from '../../lib/scrape/browse.ts';
import type { ScrapeResult } from '../../lib/scrape/run.ts';
import { scrapeInputFromForm } from '../../dashboard/pages/scrapes/form.ts';
import { jobSection, scrapeForm } from '../../dashboard/pages/scrapes/form-view.ts';
import { createScrapeJobs } from '../../dashboard/pages/scrapes/jobs.ts';
import { paginate } from '../../dashboard/pages/scrapes/pagination.ts';
import { countsSection, documentsSection, pageLinks, runsSection } from '../../dashboard/pages/scrapes/view.ts';

describe('paginate', () => {
  it('80 documents in pages of 25: four pages, the last holding 76–80', () => {
    expect(paginate(80, 1, 25)).toEqual({ page: 1, pages: 4, from: 1, to: 25, total: 80, links: [1, 2, 3, 4] });
    expect(paginate(80, 4, 25)).toMatchObject({ page: 4, from: 76, to: 80 });
  });

  it('clamps a page past either end, and shows an empty table as page 1 of 1', () => {
    expect(paginate(80, 9, 25)).toMatchObject({ page: 4, from: 76, to: 80 });
    expect(paginate(80, 0, 25)).toMatchObject({ page: 1, from: 1, to: 25 });
    expect(paginate(80, Number.NaN, 25)).toMatchObject({ page: 1 });
    expect(paginate(0, 3, 25)).toEqual({ page: 1, pages: 1, from: 1, to: 0, total: 0, links: [1] });
  });

  it('links the first, the last and two on each side, with gaps of more than one page as null', () => {
    expect(paginate(1000, 10, 10).links).toEqual([1, null, 8, 9, 10, 11, 12, null, 100]);
    expect(paginate(1000, 1, 10).links).toEqual([1, 2, 3, null, 100]);
    // A gap of exactly one page shows that page instead of "…".
    expect(paginate(1000, 5, 10).links).toEqual([1, 2, 3, 4, 5, 6, 7, null, 100]);
  });

  it('refuses a page size below 1', () => {
    expect(() => paginate(10, 1, 0)).toThrow(RangeError);
  });
});

describe('the Scrapes views', () => {
  it('renders businesses as name, city, rating and review count, escaped', () => {
    const rows = [
      businessRow({
        sourceId: 'b1',
        data: { name: 'Tom <b>&</b> Jerry', location: { city: 'Austin' }, rating: 4.5, review_count: 1234 },
      }),
      businessRow({ sourceId: 'b2', data: { name: 'No location' } }),
    ];
    const page = documentsSection('yelp', rows, paginate(2, 1, 25)).value;
    expect(page).toContain('<caption>Yelp businesses 1–2 of 2 (page 1 of 1)</caption>');
    expect(page).toContain(
      '<tr><td>Tom &lt;b&gt;&amp;&lt;/b&gt; Jerry</td><td>Austin</td><td class="number">4.5</td><td class="number">1,234</td></tr>',
    );
    expect(page).toContain('<tr><td>No location</td><td></td><td class="number"></td><td class="number"></td></tr>');
    // One page: no page links.
    expect(page).not.toContain('<nav');
  });

  it('renders HN items as id, title, points and author', () => {
    const rows = [
      hnRow({ sourceId: '7', data: { id: 7, title: 'Show HN', points: 12, author: 'pg' } }),
      hnRow({ sourceId: '8', data: { id: 8, type: 'comment', title: null, points: null, author: 'x' } }),
    ];
    const page = documentsSection('hn', rows, paginate(1, 1, 25)).value;
    expect(page).toContain('<tr><td class="number">7</td><td>Show HN</td><td class="number">12</td><td>pg</td></tr>');
  });

  it('page links are plain links in a labelled nav, with the current page marked and no link past an end', () => {
    const links = pageLinks('yelp', paginate(80, 1, 25)).value;
    expect(links).toContain('<nav class="pages" aria-label="Pages of Yelp businesses">');
    expect(links).toContain('<span aria-disabled="true">Previous</span>');
    expect(links).toContain('<a href="/scrapes?source=yelp&amp;page=2" rel="next">Next</a>');
    expect(links).toContain(
      '<a href="/scrapes?source=yelp&amp;page=1" aria-current="page" aria-label="Page 1, current">1</a>',
    );
    expect(links).toContain('<a href="/scrapes?source=yelp&amp;page=4" aria-label="Page 4">4</a>');
    const last = pageLinks('yelp', paginate(80, 4, 25)).value;
    expect(last).toContain('<span aria-disabled="true">Next</span>');
    expect(last).toContain('<a href="/scrapes?source=yelp&amp;page=3" rel="prev">Previous</a>');
  });

  it('counts each source’s documents with the exact value kept for reading back', () => {
    const html = countsSection(
      'cloud_parallel',
      [
        { source: 'yelp', collection: 'businesses', documents: 1200 },
        { source: 'hn', collection: 'hn_items', documents: 0 },
      ],
      'hn',
    ).value;
    expect(html).toContain('<data data-count="yelp" value="1200">1,200</data>');
    expect(html).toContain('<data data-count="hn" value="0">0</data>');
    expect(html).toContain('<a href="/scrapes?source=hn&amp;page=1" aria-current="true">Hacker News items</a>');
  });

  it('words each run’s outcome, and says when there are none', () => {
    expect(runsSection([]).value).toContain('No scrape runs recorded yet.');
    const run = {
      _id: 'r1',
      source: 'yelp' as const,
      target: { cities: ['Austin, TX', 'Chicago, IL'], limit: 20 },
      startedAt: new Date('2026-12-03T10:00:00Z'),
      endedAt: new Date('2026-12-03T10:00:01Z'),
      wallMs: 1234.5,
      fetched: 40,
      upserted: 38,
      modified: 1,
      unchanged: 0,
      failed: 1,
      failures: [{ id: 'x', reason: 'HTTP 500' }],
      left: 0,
      requests: 44,
      retries: 2,
    };
    const html = runsSection([run]).value;
    expect(html).toContain('<td>Austin, TX; Chicago, IL (20 per city)</td>');
    expect(html).toContain(
      '<td class="error">fetched 40, upserted 38, modified 1, unchanged 0, failed 1</td><td>1,235 ms</td>',
    );
  });
});

describe('the start form', () => {
  it('turns the fields into the input the CLI would send, only the chosen source’s', () => {
    expect(scrapeInputFromForm({ source: 'yelp', cities: 'Austin, TX; Chicago, IL', limit: '5', ids: '1-3' })).toEqual({
      source: 'yelp',
      cities: ['Austin, TX', 'Chicago, IL'],
      limit: 5,
    });
    expect(scrapeInputFromForm({ source: 'hn', ids: '3-5', cities: 'Austin, TX' })).toEqual({
      source: 'hn',
      ids: [3, 4, 5],
    });
  });

  it('refuses what the CLI refuses, in the CLI’s words', () => {
    expect(() => scrapeInputFromForm({ source: 'hn' })).toThrow('--source hn needs --ids, e.g. --ids 1-20');
    expect(() => scrapeInputFromForm({ source: 'yelp', cities: 'Austin, TX', limit: '2000' })).toThrow(
      /--limit.*at most 1000/,
    );
    expect(() => scrapeInputFromForm({})).toThrow('--source must be yelp or hn');
  });

  it('shows a refused form again with its values and the reason', () => {
    const form = scrapeForm('fn', { source: 'hn', ids: '9-1"' }, 'ids range "9-1" must go up').value;
    expect(form).toContain('<input type="radio" name="source" value="hn" checked>');
    expect(form).toContain('value="9-1&quot;"');
    expect(form).toContain(
      '<p id="form-status" role="status" aria-live="polite" class="outcome error">ids range &quot;9-1&quot; must go up</p>',
    );
  });
});

describe('started scrapes', () => {
  const result: ScrapeResult = {
    source: 'hn',
    fetched: 3,
    upserted: 2,
    modified: 0,
    unchanged: 1,
    failed: [],
    left: [],
    wallMs: 20,
    requests: 3,
    retries: 0,
  };

  it('runs a job, shows it running, then its outcome in words', async () => {
    let finish: (value: ScrapeResult) => void = () => undefined;
    const jobs = createScrapeJobs(() => new Promise((resolve) => (finish = resolve)));
    const job = jobs.start({ source: 'hn', ids: [1, 2, 3] });
    const running = jobSection(jobs.get(job.id)!, new Date(job.startedAt.getTime() + 2500)).value;
    expect(running).toContain('Scraping 3 items on Hacker News… running for 2.5 s');
    finish(result);
    await new Promise((resolve) => setImmediate(resolve));
    const done = jobs.get(job.id)!;
    expect(done.state).toBe('done');
    expect(jobSection(done).value).toMatch(
      /Done in \d+\.\d s: 3 items on Hacker News: fetched 3, upserted 2, modified 0, unchanged 1, failed 0\./,
    );
  });

  it('a failed invocation shows its code and message', async () => {
    const jobs = createScrapeJobs(() =>
      Promise.reject(Object.assign(new Error('Function not found: x'), { name: 'ResourceNotFoundException' })),
    );
    const job = jobs.start({ source: 'yelp', cities: ['Austin, TX'], limit: 2 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(jobSection(jobs.get(job.id)!).value).toContain(
      'The scrape of 1 city on Yelp (2 per city) failed (ResourceNotFoundException): Function not found: x',
    );
  });
});
