// The Scrapes page's one script (the CSP allows no inline script). The start form is sent with fetch rather than
// as a plain form post: the dashboard's no-referrer policy makes a browser send `Origin: null` with a form post,
// which the guard refuses, while fetch sends the page's origin. A started scrape opens the page that follows it;
// a refused form shows why in the form's status line. Everything else on the page is server-rendered HTML.

import { statusWriter } from './common.js';

const form = document.getElementById('scrape-form');
const status = document.getElementById('form-status');
const say = statusWriter(status);

async function submit(event) {
  event.preventDefault();
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  say('Starting the scrape…');
  try {
    const response = await fetch(form.action, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(new FormData(form)),
    });
    const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    say('Started; following it…');
    window.location.assign(answer.location);
  } catch (error) {
    say(error.message, true);
    button.disabled = false;
  }
}

if (form) form.addEventListener('submit', submit);
