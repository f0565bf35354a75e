/**
 * The Runs page: the fan-out runs (primes) read from results/primes/<runId>/summary.json, one of them in detail with
 * its timeline, and a form that starts a prime count through the primes-fanout function.
 * Routes: GET /runs (the page; ?run=<runId> selects a run), POST /runs/start and GET /runs/jobs (start.ts), GET
 * /runs/files (files.ts).
 */
import { listPrimesRuns, readPrimesRun, runIdSchema } from '../../../lib/primes/run-history.ts';
import { html } from '../../html.ts';
import { sendHtml } from '../../http.ts';
import { layout } from '../../layout.ts';
import type { DashboardPage, RouteContext } from '../../routes.ts';
import { handleRunFile } from './files.ts';
import { handleJob, handleStart } from './start.ts';
import { runDetail, runsSection, startForm } from './view.ts';

const PATH = '/runs';

/** The run `?run=` names, read on its own: it may be older than the listed ones. */
async function selectedRun({ url, services }: RouteContext) {
  const runId = url.searchParams.get('run');
  if (runId === null) return { detail: html``, title: 'Runs' };
  const checked = runIdSchema.safeParse(runId);
  const entry = checked.success ? await readPrimesRun(services.s3, services.bucket, checked.data) : null;
  if (entry === null)
    return {
      detail: html`<p class="outcome error" role="alert" id="run-missing">No run ${runId} under results/primes/.</p>`,
      title: 'Runs',
    };
  return { detail: runDetail(entry), title: `${runId} · Runs` };
}

async function showPage(context: RouteContext): Promise<void> {
  const { res, services, nav } = context;
  const [runs, selected] = await Promise.all([listPrimesRuns(services.s3, services.bucket), selectedRun(context)]);
  const body = html`<h1>Runs</h1>
${startForm(services.primes !== undefined && services.readOnly !== true)}
${selected.detail}
${runsSection(runs)}`;
  sendHtml(res, 200, layout({ title: selected.title, current: PATH, nav, body, scripts: ['/static/runs.js'] }));
}

export const runsPage: DashboardPage = {
  nav: { path: PATH, title: 'Runs' },
  routes: [
    { method: 'GET', path: PATH, handle: showPage },
    { method: 'POST', path: `${PATH}/start`, handle: handleStart },
    { method: 'GET', path: `${PATH}/jobs`, handle: handleJob },
    { method: 'GET', path: `${PATH}/files`, handle: handleRunFile },
  ],
};
