/**
 * The Scrapes page's form and the started scrape's state, in words. The fields are the `scrape` command's flags
 * (cli/args.ts judges them, so the page and the CLI accept and refuse the same input); labels name the flag,
 * which is also what an error message names.
 */
import { html, type SafeHtml } from '../../html.ts';
import type { ScrapeJob } from './jobs.ts';
import { outcomeInWords, PATH } from './view.ts';

/** What the form was sent with, shown again when it is refused. */
export interface ScrapeFormValues {
  source?: string;
  cities?: string;
  limit?: string;
  ids?: string;
}

export function scrapeForm(functionName: string, values: ScrapeFormValues = {}, error?: string): SafeHtml {
  const source = values.source === 'hn' ? 'hn' : 'yelp';
  const checked = (value: string) => (value === source ? html` checked` : '');
  return html`<section aria-labelledby="start-heading">
<h2 id="start-heading">Start a scrape</h2>
<p>Invokes the scrape function <code>${functionName}</code> through the Lambda invoke API with what
<code>npx cloud-parallel scrape</code> takes; the documents are upserted, so running it again changes nothing.</p>
<form id="scrape-form" action="${PATH}/runs" method="post">
<fieldset class="choices"><legend>Source (<code>--source</code>)</legend>
<label><input type="radio" name="source" value="yelp"${checked('yelp')}> Yelp businesses by city</label>
<label><input type="radio" name="source" value="hn"${checked('hn')}> Hacker News items by id</label>
</fieldset>
<div class="fields">
<p><label for="cities">Yelp: cities (<code>--cities</code>, separated by ";")</label>
<input type="text" id="cities" name="cities" value="${values.cities ?? ''}" placeholder="San Francisco, CA; Austin, TX" size="40" autocomplete="off"></p>
<p><label for="limit">Yelp: businesses per city (<code>--limit</code>, 1–1000)</label>
<input type="number" id="limit" name="limit" min="1" max="1000" step="1" value="${values.limit ?? ''}" placeholder="20"></p>
<p><label for="ids">HN: item ids (<code>--ids</code>, 1-20 or 1,5,9)</label>
<input type="text" id="ids" name="ids" value="${values.ids ?? ''}" placeholder="1-20" autocomplete="off"></p>
</div>
<button type="submit">Start the scrape</button>
<p id="form-status" role="status" aria-live="polite"${error === undefined ? '' : html` class="outcome error"`}>${error ?? ''}</p>
</form>
</section>`;
}

function seconds(from: Date, to: Date): string {
  return `${((to.getTime() - from.getTime()) / 1000).toFixed(1)} s`;
}

function what(job: ScrapeJob): string {
  return job.input.source === 'yelp'
    ? `${job.input.cities.length === 1 ? '1 city' : `${job.input.cities.length} cities`} on Yelp (${job.input.limit} per city)`
    : `${job.input.ids.length === 1 ? '1 item' : `${job.input.ids.length} items`} on Hacker News`;
}

/** The started scrape: running (the page reloads itself), its outcome, or why it failed. */
export function jobSection(job: ScrapeJob, now: Date = new Date()): SafeHtml {
  let body: SafeHtml;
  if (job.state === 'running') {
    body = html`<p class="outcome running">Scraping ${what(job)}… running for ${seconds(job.startedAt, now)}; this page reloads until it is done.</p>`;
  } else if (job.state === 'failed') {
    body = html`<p class="outcome error" id="scrape-error">The scrape of ${what(job)} failed (${job.error.code}): ${job.error.message}</p>`;
  } else {
    const { result } = job;
    const complete = result.failed.length === 0 && result.left.length === 0 && !result.stoppedEarly;
    body = html`<p class="outcome ${complete ? 'ok' : 'error'}" id="scrape-outcome">Done in ${seconds(job.startedAt, job.endedAt)}: ${what(job)}: ${outcomeInWords({ ...result, failed: result.failed.length, left: result.left.length })}.</p>
${result.stoppedEarly ? html`<p class="error">Stopped early (${result.stoppedEarly.kind}): ${result.stoppedEarly.reason}</p>` : ''}
${
  result.failed.length === 0
    ? ''
    : html`<ul id="scrape-failures">${result.failed.slice(0, 10).map((f) => html`<li>${f.id}: ${f.reason}</li>`)}${
        result.failed.length > 10 ? html`<li>… and ${result.failed.length - 10} more</li>` : ''
      }</ul>`
}`;
  }
  return html`<section aria-labelledby="job-heading" id="scrape-job">
<h2 id="job-heading">The scrape you started</h2>
<div role="status">${body}</div>
</section>`;
}
