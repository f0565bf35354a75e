/**
 * A local stand-in for the two HTTP APIs the scraper calls, Yelp Fusion v3 and Hacker News through Algolia, with
 * deterministic data and injectable faults. What it serves and what it does not: README.md beside this file.
 * This file is the HTTP server: the browser check, the control routes, then one planned answer per API request,
 * written after its delay.
 */
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import { refuseBrowserRequest } from '../shared/request-guard.ts';
import { listenOnLoopback } from '../shared/server-process.ts';
import type { FaultOptions } from './faults.ts';
import { ResponsePlanner, type PlannedResponse } from './responses.ts';
import { matchRoute } from './routes.ts';
import { RequestStats, answerControlRoute, type ApiFixtureStats } from './stats.ts';

export interface ApiFixtureOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Added to every response (except /health). Default 0. */
  latencyMs?: number;
  /** The Yelp key the fixture accepts. Default 'local-yelp-key'. */
  apiKey?: string;
  /** Seeds the data and the fault decisions. Default 1. */
  seed?: number;
  faults?: FaultOptions;
  /** No request log on stderr. */
  silent?: boolean;
}

export interface RunningApiFixture {
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  /** What a Yelp client uses as its base (YELP_API_BASE_URL): `${baseUrl}/v3`. */
  yelpBaseUrl: string;
  /** What an HN Algolia client uses as its base: `${baseUrl}/api/v1`. */
  hnBaseUrl: string;
  /** The Bearer token Yelp routes accept. */
  apiKey: string;
  stats(): ApiFixtureStats;
  /** Zeroes the counters; maxConcurrent restarts from the requests in progress now. */
  resetStats(): void;
  /** Replaces the fault options (not merged) and restarts the rateLimitEvery count. */
  setFaults(faults: FaultOptions): void;
  setLatency(ms: number): void;
  /** Stops listening, cuts open connections and cancels pending delays. */
  close(): Promise<void>;
}

export const DEFAULT_API_KEY = 'local-yelp-key';
export const DEFAULT_SEED = 1;

/** Resolves after `ms`, or at once when `signal` aborts (the fixture is closing). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', finish);
      resolve();
    };
    const timer = setTimeout(finish, ms);
    signal.addEventListener('abort', finish, { once: true });
  });
}

function nonNegativeMs(ms: number, what: string): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`${what} must be a finite number ≥ 0, got ${ms}`);
  return ms;
}

/** What answering one API request needs from the running fixture. */
interface RequestContext {
  planner: ResponsePlanner;
  stats: RequestStats;
  requestNumber: number;
  latencyMs: number;
  closing: AbortSignal;
  log: (message: string) => void;
}

/** Plans the answer, waits out its delay (cut short by the close), and writes it unless the client left. */
async function answerApiRequest(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  context: RequestContext,
): Promise<void> {
  const { planner, stats, log } = context;
  // Released when the answer is handed to the socket, or when the client leaves first: whichever is first.
  const release = stats.arrive();
  let clientLeft = false;
  res.once('close', () => {
    if (!res.writableEnded) clientLeft = true;
    release();
  });

  const route = matchRoute(url.pathname);
  stats.countPath(route.pattern);
  const method = req.method ?? 'GET';
  let response: PlannedResponse;
  try {
    response = planner.plan(method, url, route, req.headers.authorization, context.requestNumber);
  } catch (error) {
    process.stderr.write(`[api] internal error: ${(error as Error)?.stack ?? String(error)}\n`);
    response = {
      status: 500,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ error: { code: 'INTERNAL_ERROR', description: 'fixture bug' } }),
      slow: false,
    };
  }

  await pause(context.latencyMs + (response.slow ? planner.slowMs() : 0), context.closing);

  if (clientLeft || res.destroyed) {
    stats.countStatus('aborted');
    log(`${method} ${url.pathname}${url.search} → client left before the ${response.status}`);
    release();
    return;
  }
  stats.countStatus(String(response.status));
  log(
    `${method} ${url.pathname}${url.search} → ${response.status}${response.headers['x-fixture-fault'] ? ` (${response.headers['x-fixture-fault']})` : ''}`,
  );
  // Counted as done before the bytes leave, so a client that waits for each answer never overlaps two.
  release();
  res.writeHead(response.status, { ...response.headers, 'content-length': String(Buffer.byteLength(response.body)) });
  res.end(method === 'HEAD' ? undefined : response.body);
}

export async function startApiFixture(options: ApiFixtureOptions): Promise<RunningApiFixture> {
  const host = options.host ?? '127.0.0.1';
  const seed = options.seed ?? DEFAULT_SEED;
  const apiKey = options.apiKey ?? DEFAULT_API_KEY;
  let latencyMs = nonNegativeMs(options.latencyMs ?? 0, 'latencyMs');
  const planner = new ResponsePlanner(seed, apiKey, options.faults ?? {});
  const closing = new AbortController();
  // Every delayed response listens for the close: many at once is normal here, not a leak.
  setMaxListeners(0, closing.signal);
  const stats = new RequestStats();
  /** Every request but /health, since start: numbers the fault draws. */
  let requestNumber = 0;
  const log = (message: string): void => {
    if (!options.silent) process.stderr.write(`[api] ${message}\n`);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    // Not AWS-shaped (no signatures), but on the developer's laptop all the same: a page gets nothing, not even
    // the control routes (request-guard.ts).
    const browser = refuseBrowserRequest(req, allowedHosts);
    if (browser) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'FORBIDDEN', description: browser.message } }));
      req.resume();
      return;
    }
    // Never resolved against a base: `//host/path` would otherwise be read as another host.
    const url = new URL(`http://fixture.invalid${req.url?.startsWith('/') ? req.url : '/'}`);
    if (answerControlRoute(req, res, url.pathname, stats)) return;
    requestNumber++;
    await answerApiRequest(req, res, url, { planner, stats, requestNumber, latencyMs, closing: closing.signal, log });
  };

  const allowedHosts = new Set<string>();
  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      process.stderr.write(`[api] internal error: ${(error as Error)?.stack ?? String(error)}\n`);
      res.destroy();
    });
  });
  const { endpoint: baseUrl } = await listenOnLoopback(server, options.port, host, allowedHosts);
  log(`listening on ${baseUrl} (seed ${seed})`);
  let closed: Promise<void> | undefined;

  return {
    baseUrl,
    yelpBaseUrl: `${baseUrl}/v3`,
    hnBaseUrl: `${baseUrl}/api/v1`,
    apiKey,
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    setFaults: (next) => planner.setFaults(next),
    setLatency: (ms) => {
      latencyMs = nonNegativeMs(ms, 'latency');
    },
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
