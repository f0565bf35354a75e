/**
 * The Data page: upload a CSV for the rates job, follow its run, see its result; the earlier uploads below.
 * Routes: GET /data (the page; ?upload=<key> selects a result), POST /data/uploads (upload.ts), GET /data/runs (has
 * this run finished? — for the page's script), GET /data/files (files.ts).
 */
import { z } from 'zod';
import { checkRatesOutcome } from '../../../lib/rates/client.ts';
import { listRatesUploads } from '../../../lib/rates/history.ts';
import { resultPrefixFor } from '../../../lib/rates/upload-keys.ts';
import { html } from '../../html.ts';
import { sendError, sendHtml, sendJson } from '../../http.ts';
import { layout } from '../../layout.ts';
import type { DashboardPage, RouteContext } from '../../routes.ts';
import { handleFile } from './files.ts';
import { handleUpload } from './upload.ts';
import { errorInWords, historySection, resultSection, uploadForm } from './view.ts';

const PATH = '/data';

async function showPage({ res, url, services, nav }: RouteContext): Promise<void> {
  const uploads = await listRatesUploads(services.s3, services.bucket);
  const selectedKey = url.searchParams.get('upload');
  const selected = selectedKey === null ? undefined : uploads.find((upload) => upload.key === selectedKey);
  const missing =
    selectedKey !== null && selected === undefined
      ? html`<p class="outcome error" role="alert">No upload ${selectedKey} among the latest ${uploads.length}.</p>`
      : '';
  const body = html`<h1>Data</h1>
${services.readOnly ? html`<p>Read-only: start the dashboard with <code>--allow-runs</code> to upload files from here.</p>` : uploadForm()}
${missing}${selected === undefined ? '' : resultSection(selected)}
${historySection(uploads)}`;
  sendHtml(
    res,
    200,
    layout({
      title: selected === undefined ? 'Data' : `${selected.key} · Data`,
      current: PATH,
      nav,
      body,
      scripts: ['/static/data.js'],
      ...(selected?.state === 'running' ? { refreshSeconds: 2 } : {}),
    }),
  );
}

const runQuery = z.object({
  upload: z.string().refine((key) => resultPrefixFor(key) !== null, 'must be an upload key (uploads/<name>.csv)'),
  runId: z.uuid(),
});

/** `{ state: 'running' }` until the run's report is there, then its state (and the error in words). */
async function runState({ req, res, url, services }: RouteContext): Promise<void> {
  const parsed = runQuery.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) return sendError(req, res, 400, `Not a run: ${parsed.error.issues[0]?.message}`);
  const { upload, runId } = parsed.data;
  const outcome = await checkRatesOutcome(services.s3, {
    bucket: services.bucket,
    resultPrefix: resultPrefixFor(upload)!,
    runId,
  });
  sendJson(
    res,
    200,
    outcome === null
      ? { state: 'running' }
      : { state: outcome.status, ...(outcome.status === 'error' ? { error: errorInWords(outcome) } : {}) },
  );
}

export const dataPage: DashboardPage = {
  nav: { path: PATH, title: 'Data' },
  routes: [
    { method: 'GET', path: PATH, handle: showPage },
    { method: 'POST', path: `${PATH}/uploads`, handle: handleUpload },
    { method: 'GET', path: `${PATH}/runs`, handle: runState },
    { method: 'GET', path: `${PATH}/files`, handle: handleFile },
  ],
};
