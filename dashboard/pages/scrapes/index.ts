/**
 * The Scrapes page: what the scraper stored in MongoDB (documents per collection, the last runs' outcomes, a page
 * of businesses or HN items) and a form that starts a scrape on the scrape function.
 * Routes: GET /scrapes[?source=yelp|hn&page=N&job=<id>], POST /scrapes/runs (the form; answers 303 to the page
 * following the started scrape).
 */
import { z } from 'zod';
import { countScrapedDocuments, pageOfScrapedDocuments } from '../../../lib/scrape/browse.ts';
import type { ScrapeSource } from '../../../lib/scrape/config.ts';
import { UserError } from '../../../lib/errors.ts';
import { latestScrapeRuns } from '../../../lib/scrape/run-log.ts';
import { html, type SafeHtml } from '../../html.ts';
import { redirect, sendError, sendHtml, sendJson } from '../../http.ts';
import { layout } from '../../layout.ts';
import type { DashboardPage, RouteContext } from '../../routes.ts';
import { readForm, scrapeInputFromForm } from './form.ts';
import { jobSection, type ScrapeFormValues, scrapeForm } from './form-view.ts';
import type { ScrapeJob } from './jobs.ts';
import { paginate } from './pagination.ts';
import { countsSection, documentsSection, PATH, runsSection } from './view.ts';

export const PAGE_SIZE = 25;
export const RUNS_SHOWN = 10;

const pageQuery = z.object({
  source: z.enum(['yelp', 'hn']).default('yelp'),
  page: z.coerce.number().int().min(1).max(1_000_000).catch(1),
  job: z.uuid().optional(),
});

const notConfigured = html`<h1>Scrapes</h1><p class="outcome error" role="alert">This dashboard was started without
MongoDB: set MONGODB_URI (or MONGODB_URI_PARAMETER) and the scrape function's name to see what the scraper stored.</p>`;

/** What MongoDB holds now, as the page's sections; an unreachable MongoDB is said in words on the page. */
async function storedSections(context: RouteContext, source: ScrapeSource, page: number): Promise<SafeHtml> {
  const scrapes = context.services.scrapes!;
  try {
    const db = await scrapes.db();
    const collection = scrapes.collections[source];
    // The page number is clamped to the pages there are, which needs the count: count first, then read that page.
    const [counts, runs] = await Promise.all([
      countScrapedDocuments(db, scrapes.collections),
      latestScrapeRuns(db, RUNS_SHOWN),
    ]);
    const total = counts.find((c) => c.source === source)?.documents ?? 0;
    const pagination = paginate(total, page, PAGE_SIZE);
    const documents = await pageOfScrapedDocuments(db, {
      source,
      collection,
      page: pagination.page,
      pageSize: PAGE_SIZE,
    });
    return html`${countsSection(scrapes.database, counts, source)}
${runsSection(runs)}
${documentsSection(source, documents.rows, paginate(documents.total, pagination.page, PAGE_SIZE))}`;
  } catch (error) {
    // Said on the page, where the person who can fix the URI or the network reads it.
    return html`<p class="outcome error" role="alert" id="mongo-error">MongoDB (database ${scrapes.database}) could not be
read: ${(error as Error)?.message ?? String(error)}</p>`;
  }
}

async function showPage(
  context: RouteContext,
  form: { status: number; values?: ScrapeFormValues; error?: string } = { status: 200 },
): Promise<void> {
  const { res, url, services, nav } = context;
  const scrapes = services.scrapes;
  if (scrapes === undefined) {
    sendHtml(res, 503, layout({ title: 'Scrapes', current: PATH, nav, body: notConfigured }));
    return;
  }
  const query = pageQuery.safeParse(Object.fromEntries(url.searchParams));
  if (!query.success) return sendError(context.req, res, 400, `Not a Scrapes page: ${query.error.issues[0]?.message}`);
  const { source, page, job: jobId } = query.data;
  const job: ScrapeJob | undefined = jobId === undefined ? undefined : scrapes.jobs.get(jobId);
  const jobPart =
    jobId === undefined
      ? ''
      : job === undefined
        ? html`<p class="outcome error" role="alert">No scrape ${jobId} was started from this dashboard since it started.</p>`
        : jobSection(job);
  const body = html`<h1>Scrapes</h1>
${jobPart}
${services.readOnly ? html`<p>Read-only: start the dashboard with <code>--allow-runs</code> to start scrapes from here.</p>` : scrapeForm(scrapes.functionName, form.values, form.error)}
${await storedSections(context, source, page)}`;
  sendHtml(
    res,
    form.status,
    layout({
      title: 'Scrapes',
      current: PATH,
      nav,
      body,
      scripts: ['/static/scrapes.js'],
      ...(job?.state === 'running' ? { refreshSeconds: 1 } : {}),
    }),
  );
}

async function startScrape(context: RouteContext): Promise<void> {
  const scrapes = context.services.scrapes;
  if (scrapes === undefined)
    return sendError(context.req, context.res, 503, 'This dashboard was started without MongoDB');
  // The page's script asks for JSON (static/scrapes.js); a plain form post gets the page itself.
  const wantsJson = (context.req.headers.accept ?? '').includes('application/json');
  const values = await readForm(context.req);
  let input: ReturnType<typeof scrapeInputFromForm>;
  try {
    input = scrapeInputFromForm(values);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    if (wantsJson) return sendJson(context.res, 400, { error: error.message });
    return showPage(context, { status: 400, values, error: error.message });
  }
  const job = scrapes.jobs.start(input);
  const location = `${PATH}?${new URLSearchParams({ source: input.source, job: job.id })}`;
  if (wantsJson) return sendJson(context.res, 202, { job: job.id, location });
  redirect(context.res, location);
}

export const scrapesPage: DashboardPage = {
  nav: { path: PATH, title: 'Scrapes' },
  routes: [
    { method: 'GET', path: PATH, handle: (context) => showPage(context) },
    { method: 'POST', path: `${PATH}/runs`, handle: startScrape },
  ],
};
