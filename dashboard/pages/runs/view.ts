/**
 * The Runs page's HTML: the form that starts a prime count, the selected run (its timeline and figures), and the
 * list of runs. Pure functions of the runs' summaries, so the page can be tested without a server.
 */
import type { PrimesRunEntry } from '../../../lib/primes/run-history.ts';
import type { PrimesRunSummary, RunFileName } from '../../../lib/primes/run-record.ts';
import { html, type SafeHtml } from '../../html.ts';

const n = (x: number) => x.toLocaleString('en-US');

export function formatRange(summary: Pick<PrimesRunSummary, 'start' | 'end'>): string {
  return `[${n(summary.start)}, ${n(summary.end)})`;
}

/** Seconds with 2 decimals from 1 s on, milliseconds below (as the timeline's title says it). */
export function formatDuration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

export function formatCost(cost: PrimesRunSummary['cost']): string {
  if (cost === null) return 'none (local threads)';
  const what =
    cost.backend === 'lambda'
      ? `${n(cost.requests)} requests, ${cost.gbSeconds} GB-s`
      : `${cost.instances} × ${cost.instanceType}, billed ${cost.billedSeconds} s`;
  return `≈ $${cost.usd.toFixed(6)} (${what})`;
}

export function runFileUrl(runId: string, file: RunFileName): string {
  return `/runs/files?${new URLSearchParams({ run: runId, file })}`;
}

export function runUrl(runId: string): string {
  return `/runs?${new URLSearchParams({ run: runId })}#run`;
}

/** What the timeline image shows, in words: for a reader who cannot see it, and in place of a broken image. */
export function timelineAlt(summary: PrimesRunSummary): string {
  return (
    `Timeline of primes run ${summary.runId}: ${n(summary.chunks)} chunks of ${formatRange(summary)} on ` +
    `${summary.backend}, one bar per chunk from its start to its end over ${formatDuration(summary.wallMs)} of wall ` +
    `time, with the number of workers busy beneath (at most ${summary.maxBusy}); ${n(summary.count)} primes, ` +
    `speedup ${summary.speedup}×, ${summary.failedChunks} failed chunk${summary.failedChunks === 1 ? '' : 's'}.`
  );
}

/** The form; `enabled` false when this dashboard may only read (no fan-out function to invoke). */
export function startForm(enabled: boolean): SafeHtml {
  if (!enabled)
    return html`<section aria-labelledby="start-heading"><h2 id="start-heading">Count primes</h2>
<p id="start-disabled">Starting runs is off: this dashboard was started without a fan-out function to invoke
(read-only). The runs below are read from S3.</p></section>`;
  return html`<section aria-labelledby="start-heading">
<h2 id="start-heading">Count primes</h2>
<p>Counts the primes in [start, end) with the <code>primes-fanout</code> function, which splits the range into
chunks and runs each on a worker Lambda or an EC2 instance. Give the number of chunks or the chunk size.</p>
<form id="start-form" action="/runs/start" method="post">
<div class="fields">
<p><label for="start">Start (included)</label>
<input type="text" id="start" name="start" inputmode="numeric" required autocomplete="off" value="100000000"></p>
<p><label for="end">End (excluded)</label>
<input type="text" id="end" name="end" inputmode="numeric" required autocomplete="off" value="101000000"></p>
<p><label for="chunks">Chunks</label>
<input type="number" id="chunks" name="chunks" min="1" step="1" value="4"></p>
<p><label for="chunkSize">or chunk size (numbers per chunk)</label>
<input type="number" id="chunkSize" name="chunkSize" min="1" step="1"></p>
<fieldset><legend>Backend</legend>
<label><input type="radio" name="backend" value="lambda" checked> Lambda</label>
<label><input type="radio" name="backend" value="ec2"> EC2</label>
</fieldset>
</div>
<button type="submit">Count primes</button>
<p id="start-progress-row" hidden><label for="start-progress">Chunks done</label>
<progress id="start-progress"></progress> <span id="start-elapsed" role="timer"></span></p>
<p id="start-status" role="status" aria-live="polite"></p>
</form>
</section>`;
}

function figures(summary: PrimesRunSummary): SafeHtml {
  const rows: [string, string, string | number][] = [
    ['count', 'Primes', summary.count],
    ['range', 'Range', formatRange(summary)],
    ['backend', 'Backend', summary.backend],
    ['chunks', 'Chunks', summary.chunks],
    ['failedChunks', 'Failed chunks', summary.failedChunks],
    ['attempts', 'Attempts', summary.attempts],
    ['coldStarts', 'Cold starts', summary.coldStarts],
    ['maxBusy', 'Most workers busy at once', summary.maxBusy],
    ['wallMs', 'Wall time', summary.wallMs],
    ['workerMs', 'Worker time (sum)', summary.workerMs],
    ['speedup', 'Speedup', summary.speedup],
    ['cost', 'Cost', formatCost(summary.cost)],
    ['startedAt', 'Started', summary.startedAt],
  ];
  const shown = (name: string, value: string | number) => {
    if (typeof value === 'string') return value;
    if (name === 'wallMs' || name === 'workerMs') return formatDuration(value);
    return name === 'speedup' ? `${value}×` : n(value);
  };
  return html`<table class="stats" id="run-figures">
<caption>Figures of run ${summary.runId}</caption>
<tbody>${rows.map(
    ([name, label, value]) =>
      html`<tr><th scope="row">${label}</th><td><data data-figure="${name}" value="${value}">${shown(name, value)}</data></td></tr>`,
  )}</tbody>
</table>`;
}

/** One run: its outcome in a sentence, the timeline, the figures, and links to its files. */
export function runDetail(entry: PrimesRunEntry): SafeHtml {
  if ('problem' in entry)
    return html`<section aria-labelledby="run-heading" id="run"><h2 id="run-heading">Run ${entry.runId}</h2>
<p class="outcome error" role="alert">This run cannot be shown: ${entry.problem}</p></section>`;
  const { summary } = entry;
  const outcome = summary.complete
    ? html`<p class="outcome ok" id="run-outcome"><strong id="run-count">${n(summary.count)}</strong> primes in
${formatRange(summary)}, counted in ${n(summary.chunks)} chunks on ${summary.backend}.</p>`
    : html`<p class="outcome error" id="run-outcome">INCOMPLETE: <strong id="run-count">${n(summary.count)}</strong>
primes in the chunks that finished; ${summary.failedChunks} of ${n(summary.chunks)} chunks failed.</p>`;
  const files: RunFileName[] = ['timeline.png', 'timeline.svg', 'timeline.json', 'summary.json'];
  return html`<section aria-labelledby="run-heading" id="run">
<h2 id="run-heading">Run ${summary.runId}</h2>
${outcome}
<figure><img id="timeline" src="${runFileUrl(summary.runId, 'timeline.png')}" alt="${timelineAlt(summary)}">
<figcaption>Each chunk's bar runs from when its worker started to when it ended (grey: from submit to reply);
beneath, how many workers were busy.</figcaption></figure>
${figures(summary)}
<h3>Files</h3>
<ul id="run-files">${files.map((file) => html`<li><a href="${runFileUrl(summary.runId, file)}">${file}</a></li>`)}</ul>
</section>`;
}

function runRow(entry: PrimesRunEntry): SafeHtml {
  const link = html`<a href="${runUrl(entry.runId)}">${entry.runId}</a>`;
  if ('problem' in entry) return html`<tr><td>${link}</td><td colspan="7" class="error">${entry.problem}</td></tr>`;
  const { summary } = entry;
  return html`<tr><td>${link}<br><time datetime="${summary.startedAt}">${summary.startedAt}</time></td>
<td>${formatRange(summary)}</td><td>${summary.backend}</td><td>${n(summary.chunks)}</td>
<td class="${summary.complete ? '' : 'error'}">${n(summary.count)}${summary.complete ? '' : ' (incomplete)'}</td>
<td>${formatDuration(summary.wallMs)}</td><td>${summary.speedup}×</td><td>${formatCost(summary.cost)}</td></tr>`;
}

export function runsSection(entries: readonly PrimesRunEntry[]): SafeHtml {
  return html`<section aria-labelledby="runs-heading">
<h2 id="runs-heading">Runs</h2>
${
  entries.length === 0
    ? html`<p id="no-runs">No runs yet: start one above, or with <code>npx cloud-parallel primes</code>.</p>`
    : html`<table id="runs"><caption>${entries.length === 1 ? 'The one fan-out run' : `The latest ${entries.length} fan-out runs, newest first`}</caption>
<thead><tr><th scope="col">Run</th><th scope="col">Range</th><th scope="col">Backend</th><th scope="col">Chunks</th>
<th scope="col">Primes</th><th scope="col">Wall time</th><th scope="col">Speedup</th><th scope="col">Cost</th></tr></thead>
<tbody>${entries.map(runRow)}</tbody></table>`
}
</section>`;
}
