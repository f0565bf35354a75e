// The Data page's one script (the CSP allows no inline script): a dropped file goes into the file input, the form is
// sent as the file itself (the dashboard uploads it to S3), and the run is polled until its result page can be shown.
// Everything else on the page is server-rendered HTML.

import { messageOf, sleep, statusWriter } from './common.js';

const form = document.getElementById('upload-form');
const input = document.getElementById('file');
const zone = document.getElementById('drop-zone');
const status = document.getElementById('upload-status');
const say = statusWriter(status);

async function follow(run) {
  const started = Date.now();
  const query = new URLSearchParams({ upload: run.key, runId: run.runId });
  for (;;) {
    const response = await fetch(`/data/runs?${query}`, { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(await messageOf(response));
    const state = await response.json();
    if (state.state !== 'running') {
      say(state.state === 'ok' ? 'Finished; showing the result.' : state.error, state.state !== 'ok');
      window.location.assign(`/data?${new URLSearchParams({ upload: run.key })}#result`);
      return;
    }
    say(`Uploaded as ${run.key}; the rates function is running (${Math.round((Date.now() - started) / 1000)} s)…`);
    await sleep(500);
  }
}

async function submit(event) {
  event.preventDefault();
  const file = input.files[0];
  if (!file) {
    say('Choose a CSV file first.', true);
    input.focus();
    return;
  }
  const query = new URLSearchParams({ name: file.name });
  for (const name of ['numerator', 'denominator', 'bins']) query.set(name, form.elements[name].value);
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  say(`Uploading ${file.name}…`);
  try {
    const response = await fetch(`/data/uploads?${query}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', Accept: 'application/json' },
      body: file,
    });
    if (!response.ok) throw new Error(await messageOf(response));
    await follow(await response.json());
  } catch (error) {
    say(`The upload failed: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
}

form.addEventListener('submit', submit);
for (const name of ['dragenter', 'dragover']) {
  zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add('dragging');
  });
}
zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
zone.addEventListener('drop', (event) => {
  event.preventDefault();
  zone.classList.remove('dragging');
  if (event.dataTransfer.files.length > 0) {
    input.files = event.dataTransfer.files;
    say(`${input.files[0].name} is ready: press “Upload and run”.`);
  }
});
