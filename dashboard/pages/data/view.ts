/**
 * The Data page's HTML: the upload form, the selected upload's result (chart, statistics, bad rows, files) or its
 * error in words, and the list of earlier uploads. Pure functions of what S3 holds, so the page can be tested without
 * a server.
 */
import type { RatesJobOutcome, RatesSummary } from '../../../lib/rates/index.ts';
import type { RatesUpload, ResultFile } from '../../../lib/rates/history.ts';
import type { RatesErrorReport } from '../../../lib/rates/outcome.ts';
import { formatBytes } from '../../../lib/units.ts';
import { html, type SafeHtml } from '../../html.ts';

/** A figure as a person reads it; the exact value stays in the <data> element's `value` for copying and tests. */
export function formatNumber(n: number): string {
  return Math.abs(n) >= 1e4 || (Math.abs(n) < 1e-3 && n !== 0) ? n.toExponential(4) : String(Number(n.toPrecision(5)));
}

export function fileUrl(upload: string, file: ResultFile): string {
  return `/data/files?${new URLSearchParams({ upload, file })}`;
}

export function uploadForm(): SafeHtml {
  return html`<section aria-labelledby="upload-heading">
<h2 id="upload-heading">Run a CSV</h2>
<p>The file is uploaded under <code>uploads/</code> in the data bucket, where the rates trigger picks it up, as
<code>npx cloud-parallel rates FILE</code> does. Empty fields use the function's defaults.</p>
<form id="upload-form" action="/data/uploads" method="post">
<div class="drop" id="drop-zone">
<label for="file">CSV file (<code>.csv</code> or <code>.csv.gz</code>) — choose one, or drop it here</label>
<input type="file" id="file" name="file" accept=".csv,.gz,text/csv,application/gzip" required>
</div>
<div class="fields">
<p><label for="numerator">Numerator column</label>
<input type="text" id="numerator" name="numerator" placeholder="cancer" autocomplete="off"></p>
<p><label for="denominator">Denominator column</label>
<input type="text" id="denominator" name="denominator" placeholder="population" autocomplete="off"></p>
<p><label for="bins">Histogram bins (1–1000)</label>
<input type="number" id="bins" name="bins" min="1" max="1000" step="1" placeholder="30"></p>
</div>
<button type="submit">Upload and run</button>
<p id="upload-status" role="status" aria-live="polite"></p>
</form>
</section>`;
}

function statistics(summary: RatesSummary): SafeHtml {
  const { stats } = summary;
  const rows: [string, string, number][] = [
    ['rows', 'Valid rows', summary.rows],
    ['badRows', 'Bad rows', summary.badRows.count],
    ['min', 'Minimum', stats.min],
    ['median', 'Median', stats.median],
    ['mean', 'Mean', stats.mean],
    ['p95', '95th percentile', stats.p95],
    ['max', 'Maximum', stats.max],
  ];
  return html`<table class="stats" id="statistics">
<caption>Statistics of ${summary.rateColumn} = ${summary.options.numerator} / ${summary.options.denominator}</caption>
<tbody>${rows.map(
    ([name, label, value]) =>
      html`<tr><th scope="row">${label}</th><td><data data-stat="${name}" value="${value}">${
        name === 'rows' || name === 'badRows' ? value.toLocaleString('en-US') : formatNumber(value)
      }</data></td></tr>`,
  )}</tbody>
</table>`;
}

function badRows(summary: RatesSummary): SafeHtml {
  const { count, samples } = summary.badRows;
  if (count === 0) return html`<p>No bad rows.</p>`;
  return html`<table id="bad-rows">
<caption>Bad rows (${samples.length < count ? `the first ${samples.length} of ${count}` : `all ${count}`})</caption>
<thead><tr><th scope="col">Line</th><th scope="col">Why it was skipped</th></tr></thead>
<tbody>${samples.map((bad) => html`<tr><td>${bad.line}</td><td>${bad.reason}</td></tr>`)}</tbody>
</table>`;
}

function successResult(key: string, summary: RatesSummary): SafeHtml {
  const bins = summary.histogram.counts.length;
  const alt =
    `Histogram of ${summary.rateColumn} for ${key}: ${summary.rows.toLocaleString('en-US')} rows in ${bins} bins ` +
    `from ${formatNumber(summary.stats.min)} to ${formatNumber(summary.stats.max)}, median ${formatNumber(summary.stats.median)}`;
  const links: [ResultFile, string][] = [
    ['rates.csv', 'rates.csv (every row with its rate)'],
    ['histogram.png', 'histogram.png'],
    ['histogram.svg', 'histogram.svg'],
    ['summary.json', 'summary.json'],
    ...(summary.outputs.timeline === undefined
      ? []
      : (['timeline.png', 'timeline.svg', 'timeline.json'] as const).map((f): [ResultFile, string] => [f, f])),
  ];
  return html`<p class="outcome ok">Finished ${summary.finishedAt}: ${summary.rows.toLocaleString('en-US')} rows in
${summary.timings.totalMs} ms.</p>
<figure><img id="histogram" src="${fileUrl(key, 'histogram.png')}" alt="${alt}" width="800" height="400">
<figcaption>${summary.rateColumn} per row, ${bins} bins</figcaption></figure>
<div class="columns">${statistics(summary)}${badRows(summary)}</div>
${splitTimeline(key, summary)}
<h3>Files</h3>
<ul id="result-files">${links.map(([file, label]) => html`<li><a href="${fileUrl(key, file)}">${label}</a></li>`)}</ul>`;
}

/** A split run's timeline: its tasks on the workers over time. */
function splitTimeline(key: string, summary: RatesSummary): SafeHtml {
  const { parallel } = summary;
  if (summary.outputs.timeline === undefined || parallel === undefined) return html``;
  const alt =
    `Timeline of the split run of ${key}: ${parallel.chunks} chunks on ${parallel.workers} workers, ` +
    `${parallel.reruns} re-run${parallel.reruns === 1 ? '' : 's'} and ${parallel.statsRounds} statistics rounds in ${(parallel.wallMs / 1000).toFixed(1)} s`;
  return html`<h3>How the run was split</h3>
<figure><img id="timeline" src="${fileUrl(key, 'timeline.png')}" alt="${alt}" width="800">
<figcaption>Each row a task (parse, re-run, statistics round), each bar an attempt; beneath, the workers busy</figcaption></figure>`;
}

export function errorInWords(report: RatesErrorReport): string {
  return `The run failed (${report.error.code}): ${report.error.message}`;
}

/** The selected upload: its result, its error in words, or that it is still running. */
export function resultSection(upload: RatesUpload): SafeHtml {
  const body =
    upload.state === 'running' || upload.outcome === null
      ? html`<p class="outcome running">Still running… this page reloads until the result is there.</p>`
      : upload.outcome.status === 'error'
        ? html`<p class="outcome error" id="run-error">${errorInWords(upload.outcome)}</p>`
        : successResult(upload.key, upload.outcome);
  return html`<section aria-labelledby="result-heading" id="result">
<h2 id="result-heading">${upload.key}</h2>
${body}
</section>`;
}

function outcomeCell(outcome: RatesJobOutcome | null): SafeHtml {
  if (outcome === null) return html`<span class="running">running (or not picked up)</span>`;
  if (outcome.status === 'error') return html`<span class="error">${errorInWords(outcome)}</span>`;
  return html`<span class="ok">ok: ${outcome.rows.toLocaleString('en-US')} rows, ${outcome.badRows.count} bad</span>`;
}

export function historySection(uploads: readonly RatesUpload[]): SafeHtml {
  return html`<section aria-labelledby="history-heading">
<h2 id="history-heading">Earlier uploads</h2>
${
  uploads.length === 0
    ? html`<p>No uploads yet.</p>`
    : html`<table id="uploads"><thead><tr><th scope="col">Upload</th><th scope="col">Size</th>
<th scope="col">Uploaded</th><th scope="col">Outcome</th></tr></thead>
<tbody>${uploads.map(
        (upload) => html`<tr><td><a href="/data?${new URLSearchParams({ upload: upload.key })}">${upload.key}</a></td>
<td>${formatBytes(upload.bytes)}</td><td><time datetime="${upload.uploadedAt}">${upload.uploadedAt}</time></td>
<td>${outcomeCell(upload.outcome)}</td></tr>`,
      )}</tbody></table>`
}
</section>`;
}
