// The Runs page's one script (the CSP allows no inline script): the form is sent to the dashboard, which checks it
// with the fan-out's own schema (a refusal comes back in words) and invokes the primes-fanout function; the job is
// polled until the run is done, then its page (count and timeline) is shown. The fan-out runs inside one invocation
// and reports nothing before it ends, so the progress shown is the elapsed time.

const form = document.getElementById('start-form');
const status = form && document.getElementById('start-status');

function say(text, isError) {
  status.textContent = text;
  status.classList.toggle('error', Boolean(isError));
}

async function messageOf(response) {
  try {
    const body = await response.json();
    return body.error || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function follow(jobId) {
  for (;;) {
    const response = await fetch(`/runs/jobs?${new URLSearchParams({ id: jobId })}`, {
      headers: { Accept: 'application/json' },
    });
    if (!response.ok) throw new Error(await messageOf(response));
    const job = await response.json();
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
    say(
      `Counting primes in ${job.what}: running for ${seconds(job.elapsedMs)}. ` +
        'The fan-out function answers when every chunk is done.',
    );
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
    say(error.message, true);
  } finally {
    button.disabled = false;
    form.removeAttribute('aria-busy');
  }
}

if (form) form.addEventListener('submit', submit);
