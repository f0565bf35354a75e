/**
 * The Scrapes page's HTML: the documents per collection, the last runs' outcomes, one page of the stored
 * businesses or HN items with links to the other pages, the form that starts a scrape and the started scrape's
 * progress or outcome in words. Pure functions of what MongoDB holds, so they are tested without a server.
 */
import type { BusinessRow, CollectionCount, HnRow, ScrapeRow } from '../../../lib/scrape/browse.ts';
import type { ScrapeSource } from '../../../lib/scrape/config.ts';
import type { ScrapeRunDocument } from '../../../lib/scrape/run-log.ts';
import type { ScrapeResult } from '../../../lib/scrape/run.ts';
import { html, type SafeHtml } from '../../html.ts';
import type { Pagination } from './pagination.ts';

export const PATH = '/scrapes';

const SOURCE_NAMES: Record<ScrapeSource, string> = { yelp: 'Yelp businesses', hn: 'Hacker News items' };

const count = (n: number): string => n.toLocaleString('en-US');

export function pageUrl(source: ScrapeSource, page: number): string {
  return `${PATH}?${new URLSearchParams({ source, page: String(page) })}`;
}

export function countsSection(database: string, counts: readonly CollectionCount[], current: ScrapeSource): SafeHtml {
  return html`<section aria-labelledby="collections-heading">
<h2 id="collections-heading">Collections</h2>
<table id="collections"><caption>Documents the scraper stored in the database ${database}</caption>
<thead><tr><th scope="col">Source</th><th scope="col">Collection</th><th scope="col">Documents</th></tr></thead>
<tbody>${counts.map(
    (
      c,
    ) => html`<tr><th scope="row"><a href="${pageUrl(c.source, 1)}"${c.source === current ? html` aria-current="true"` : ''}>${SOURCE_NAMES[c.source]}</a></th>
<td><code>${c.collection}</code></td><td><data data-count="${c.source}" value="${c.documents}">${count(c.documents)}</data></td></tr>`,
  )}</tbody></table>
</section>`;
}

/** One run's outcome in words, as the CLI prints its first line. */
export function outcomeInWords(
  run: Pick<ScrapeResult, 'fetched' | 'upserted' | 'modified' | 'unchanged'> & {
    failed: number;
    left: number;
  },
): string {
  return (
    `fetched ${count(run.fetched)}, upserted ${count(run.upserted)}, modified ${count(run.modified)}, ` +
    `unchanged ${count(run.unchanged)}, failed ${count(run.failed)}` +
    (run.left > 0 ? `, left ${count(run.left)} (run again to finish)` : '')
  );
}

function targetInWords(target: ScrapeRunDocument['target']): string {
  if ('cities' in target) return `${target.cities.join('; ')} (${target.limit} per city)`;
  return target.ids === 1 ? `item ${target.first}` : `${count(target.ids)} items, ${target.first}–${target.last}`;
}

export function runsSection(runs: readonly ScrapeRunDocument[]): SafeHtml {
  const rows = runs.map(
    (run) => html`<tr><td><time datetime="${run.startedAt.toISOString()}">${run.startedAt.toISOString()}</time></td>
<td>${run.source}</td><td>${targetInWords(run.target)}</td>
<td class="${run.failed > 0 || run.left > 0 || run.stoppedEarly ? 'error' : 'ok'}">${outcomeInWords(run)}${
      run.stoppedEarly ? `; stopped early: ${run.stoppedEarly.reason}` : ''
    }</td><td>${count(Math.round(run.wallMs))} ms</td></tr>`,
  );
  return html`<section aria-labelledby="runs-heading">
<h2 id="runs-heading">Last runs</h2>
${
  runs.length === 0
    ? html`<p>No scrape runs recorded yet.</p>`
    : html`<table id="scrape-runs"><caption>${runs.length === 1 ? 'The latest run' : `The latest ${runs.length} runs, newest first`}</caption>
<thead><tr><th scope="col">Started</th><th scope="col">Source</th><th scope="col">What</th>
<th scope="col">Outcome</th><th scope="col">Time</th></tr></thead>
<tbody>${rows}</tbody></table>`
}
</section>`;
}

const numberCell = (n: number | null): SafeHtml => html`<td class="number">${n === null ? '' : count(n)}</td>`;

function businessTable(rows: readonly BusinessRow[]): SafeHtml {
  return html`<thead><tr><th scope="col">Name</th><th scope="col">City</th><th scope="col">Rating</th>
<th scope="col">Reviews</th></tr></thead>
<tbody>${rows.map(
    (row) =>
      html`<tr><td>${row.name}</td><td>${row.city}</td><td class="number">${row.rating === null ? '' : row.rating.toFixed(1)}</td>${numberCell(row.reviewCount)}</tr>`,
  )}</tbody>`;
}

function hnTable(rows: readonly HnRow[]): SafeHtml {
  return html`<thead><tr><th scope="col">Id</th><th scope="col">Title</th><th scope="col">Points</th>
<th scope="col">Author</th></tr></thead>
<tbody>${rows.map((row) => html`<tr><td class="number">${row.id}</td><td>${row.title}</td>${numberCell(row.points)}<td>${row.author}</td></tr>`)}</tbody>`;
}

/** Links to the other pages: plain links, so Tab and Enter page through the table. */
export function pageLinks(source: ScrapeSource, pagination: Pagination): SafeHtml {
  if (pagination.pages <= 1) return html``;
  const { page, pages } = pagination;
  const step = (to: number, label: string, rel: string) =>
    to < 1 || to > pages
      ? html`<li><span aria-disabled="true">${label}</span></li>`
      : html`<li><a href="${pageUrl(source, to)}" rel="${rel}">${label}</a></li>`;
  return html`<nav class="pages" aria-label="Pages of ${SOURCE_NAMES[source]}"><ul>
${step(page - 1, 'Previous', 'prev')}
${pagination.links.map((p) =>
  p === null
    ? html`<li><span aria-hidden="true">…</span></li>`
    : p === page
      ? html`<li><a href="${pageUrl(source, p)}" aria-current="page" aria-label="Page ${p}, current">${p}</a></li>`
      : html`<li><a href="${pageUrl(source, p)}" aria-label="Page ${p}">${p}</a></li>`,
)}
${step(page + 1, 'Next', 'next')}
</ul></nav>`;
}

export function documentsSection(source: ScrapeSource, rows: readonly ScrapeRow[], pagination: Pagination): SafeHtml {
  const { from, to, total, page, pages } = pagination;
  const caption =
    total === 0
      ? `No ${SOURCE_NAMES[source]} stored yet`
      : `${SOURCE_NAMES[source]} ${count(from)}–${count(to)} of ${count(total)} (page ${page} of ${pages})`;
  const body = source === 'yelp' ? businessTable(rows as readonly BusinessRow[]) : hnTable(rows as readonly HnRow[]);
  return html`<section aria-labelledby="documents-heading">
<h2 id="documents-heading">Stored ${SOURCE_NAMES[source]}</h2>
<table id="documents"><caption>${caption}</caption>${total === 0 ? '' : body}</table>
${pageLinks(source, pagination)}
</section>`;
}
