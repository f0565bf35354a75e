/**
 * The dashboard's HTTP server: each request is judged (guard.ts), then matched to a static file or a page's route
 * (pages/index.ts). Server-rendered HTML with one small script per page that needs one (the Data page's upload and
 * polling): no build step, nothing to download, and every page works as a plain document a screen reader and the
 * keyboard already know. See README.md for the choice.
 */
import http from 'node:http';
import { listenOnLoopback } from '../local-stack/shared/server-process.ts';
import { judgeRequest } from './guard.ts';
import { redirect, sendError } from './http.ts';
import { PAGES } from './pages/index.ts';
import type { DashboardServices, Route } from './routes.ts';
import { loadStaticFiles, sendStatic } from './static.ts';

export const READ_ONLY_MESSAGE =
  'This dashboard is read-only: it starts nothing. Start it with --allow-runs to run jobs from it.';

export interface DashboardOptions {
  port: number;
  host: string;
  /** The secret in the login URL, exchanged for the session cookie. */
  token: string;
  services: DashboardServices;
  log?: (line: string) => void;
  silent?: boolean;
}

export interface RunningDashboard {
  port: number;
  /** The dashboard's address without the token. */
  url: string;
  close: () => Promise<void>;
}

export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const allowedHosts = new Set<string>();
  const files = loadStaticFiles();
  const nav = PAGES.map((page) => page.nav);
  const routes = new Map<string, Route>();
  for (const page of PAGES) for (const route of page.routes) routes.set(`${route.method} ${route.path}`, route);
  const log = options.log ?? (() => undefined);
  let cookieName = 'cp_dashboard';

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const verdict = judgeRequest(req, url, { token: options.token, allowedHosts, cookieName });
    if (verdict.kind === 'refuse') return sendError(req, res, verdict.status, verdict.message);
    if (verdict.kind === 'login') return redirect(res, verdict.location, { 'Set-Cookie': verdict.cookie });
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const file = method === 'GET' ? files.get(url.pathname) : undefined;
    if (file !== undefined) return sendStatic(res, file);
    if (method === 'GET' && url.pathname === '/') return redirect(res, PAGES[0]!.nav.path);
    if (method !== 'GET' && options.services.readOnly) return sendError(req, res, 403, READ_ONLY_MESSAGE);
    const route = routes.get(`${method} ${url.pathname}`);
    if (route === undefined) return sendError(req, res, 404, `No page at ${url.pathname}`);
    route.handle({ req, res, url, services: options.services, nav }).catch((error: unknown) => {
      log(`${method} ${url.pathname} failed: ${(error as Error)?.stack ?? String(error)}`);
      sendError(req, res, 500, `The dashboard failed: ${(error as Error)?.message ?? String(error)}`);
    });
  });
  const { port, endpoint } = await listenOnLoopback(server, options.port, options.host, allowedHosts);
  cookieName = `cp_dashboard_${port}`;
  return {
    port,
    url: endpoint,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
