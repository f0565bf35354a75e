// The Runs page's one script (the CSP allows no inline script): the form is sent to the dashboard, which checks it
// with the fan-out's own schema (a refusal comes back in words) and invokes the primes-fanout function with a run id
// of its choosing; the job is polled until the run is done, then its page (count and timeline) is shown. While it
// runs, each poll carries the run's progress.json (chunks done of total, primes so far), drawn as a <progress> bar.
// The live status line changes only when a chunk finishes; the elapsed time ticks in a role=timer element, which
// screen readers do not announce, so they are not told the time twice a second.

import { messageOf, sleep, statusWriter } from './common.js';

const form = document.getElementById('start-form');
const status = form && document.getElementById('start-status');
const bar = form && document.getElementById('start-progress');
const barRow = form && document.getElementById('start-progress-row');
const elapsed = form && document.getElementById('start-elapsed');
const say = status && statusWriter(status);

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

const n = (x) => x.toLocaleString('en-US');

// Without progress yet (the fan-out has not written its first state), the bar is indeterminate.
function showProgress(job) {
  barRow.hidden = false;
  elapsed.textContent = seconds(job.elapsedMs);
  const p = job.progress;
  if (!p) {
    bar.removeAttribute('value');
    bar.textContent = 'starting';
    say(`Counting primes in ${job.what}: starting the fan-out${job.progressError ? ` (${job.progressError})` : ''}.`);
    return;
  }
  bar.max = Math.max(1, p.chunks.total);
  bar.value = p.chunks.done;
  bar.textContent = `${p.chunks.done} of ${p.chunks.total}`;
  const failed = p.chunks.failed > 0 ? ` (${n(p.chunks.failed)} failed)` : '';
  const next = p.state === 'done' ? '; saving the timeline' : '';
  say(
    `Counting primes in ${job.what}: chunks ${n(p.chunks.done)} of ${n(p.chunks.total)} done${failed} · ` +
      `${n(p.primes)} primes so far${next}.`,
  );
}

async function follow(jobId) {
  for (;;) {
    const response = await fetch(`/runs/jobs?${new URLSearchParams({ id: jobId })}`, {
      headers: { Accept: 'application/json' },
    });
    if (!response.ok) throw new Error(await messageOf(response));
    const job = await response.json();
    if (job.state !== 'running') barRow.hidden = true;
    if (job.state === 'error') {
      say(job.error, true);
      return;
    }
    if (job.state === 'ok' && job.timelineError) {
      // Counted, but not saved: there is no run page to show, so the count and the reason are said here.
      say(`${job.count.toLocaleString('en-US')} primes (run ${job.runId}), but ${job.timelineError}`, true);
      return;
    }
    if (job.state === 'ok') {
      say(`Done in ${seconds(job.elapsedMs)}: ${job.count.toLocaleString('en-US')} primes; showing run ${job.runId}.`);
      window.location.assign(`/runs?${new URLSearchParams({ run: job.runId })}#run`);
      return;
    }
    showProgress(job);
    await sleep(500);
  }
}

async function submit(event) {
  event.preventDefault();
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  form.setAttribute('aria-busy', 'true');
  say('Starting…');
  try {
    const response = await fetch('/runs/start', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams(new FormData(form)),
    });
    if (!response.ok) throw new Error(await messageOf(response));
    await follow((await response.json()).jobId);
  } catch (error) {
    barRow.hidden = true;
    say(error.message, true);
  } finally {
    button.disabled = false;
    form.removeAttribute('aria-busy');
  }
}

if (form) form.addEventListener('submit', submit);
