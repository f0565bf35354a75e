/**
 * The scraper's request pool against a tiny scripted HTTP server: what it retries, what it does not, how a 429
 * pauses every request (not only the one that got it), and how an auth failure stops the run.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createRequestPool,
  describeErrorBody,
  parseRetryAfter,
  type RequestPoolOptions,
} from '../../../lib/scrape/http.ts';

interface Arrival {
  path: string;
  at: number;
}

interface ScriptedServer {
  url: string;
  arrivals: Arrival[];
  /** When each answer with that status was sent. */
  sentAt: Map<number, number[]>;
  close(): Promise<void>;
}

type Answer = { status: number; body?: string; headers?: Record<string, string>; delayMs?: number };

const servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** Answers request n (0-based, in arrival order) with `script(n, path)`. */
async function scriptedServer(script: (n: number, path: string) => Answer): Promise<ScriptedServer> {
  const arrivals: Arrival[] = [];
  const sentAt = new Map<number, number[]>();
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const answer = script(arrivals.length, path);
    arrivals.push({ path, at: performance.now() });
    setTimeout(() => {
      sentAt.set(answer.status, [...(sentAt.get(answer.status) ?? []), performance.now()]);
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.body ?? '{}');
    }, answer.delayMs ?? 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const scripted: ScriptedServer = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    sentAt,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(scripted);
  return scripted;
}

const POOL: RequestPoolOptions = { concurrency: 4, timeoutMs: 2000, retries: 3, baseDelayMs: 5, maxDelayMs: 20 };

describe('request pool', () => {
  it('retries 5xx, unparseable bodies and network errors, and returns the body once it gets one', async () => {
    const server = await scriptedServer((n) =>
      n === 0
        ? { status: 503 }
        : n === 1
          ? { status: 200, body: '{"trunc' }
          : n === 2
            ? { status: 502, body: '<html><title>502 Bad Gateway</title></html>' }
            : { status: 200, body: '{"ok":1}' },
    );
    const pool = createRequestPool(POOL);
    expect(await pool.getJson(`${server.url}/x`)).toEqual({ ok: true, status: 200, body: { ok: 1 } });
    expect(pool.requests).toBe(4);
    expect(pool.retries).toBe(3);

    const refused = createRequestPool({ ...POOL, retries: 2 });
    const closed = await scriptedServer(() => ({ status: 200 }));
    await closed.close();
    expect(await refused.getJson(`${closed.url}/x`)).toMatchObject({
      ok: false,
      kind: 'network',
      reason: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(refused.requests).toBe(3);
  });

  it('does not retry 404 or other 4xx, and says what the API said', async () => {
    const server = await scriptedServer((_n, path) =>
      path === '/missing'
        ? { status: 404, body: '{"status":404,"error":"Not Found"}' }
        : { status: 400, body: '{"error":{"code":"LOCATION_NOT_FOUND","description":"Could not execute search."}}' },
    );
    const pool = createRequestPool(POOL);
    expect(await pool.getJson(`${server.url}/missing`)).toEqual({
      ok: false,
      status: 404,
      kind: 'not-found',
      reason: 'HTTP 404: Not Found',
    });
    expect(await pool.getJson(`${server.url}/search`)).toEqual({
      ok: false,
      status: 400,
      kind: 'client-error',
      reason: 'HTTP 400: LOCATION_NOT_FOUND: Could not execute search.',
    });
    expect(pool.requests).toBe(2);
    expect(pool.retries).toBe(0);
  });

  it('times out a slow answer and tries again', async () => {
    const server = await scriptedServer((n) =>
      n === 0 ? { status: 200, delayMs: 1000 } : { status: 200, body: '[1]' },
    );
    const pool = createRequestPool({ ...POOL, timeoutMs: 100 });
    expect(await pool.getJson(`${server.url}/slow`)).toEqual({ ok: true, status: 200, body: [1] });
    expect(pool.retries).toBe(1);

    const always = await scriptedServer(() => ({ status: 200, delayMs: 1000 }));
    const giveUp = createRequestPool({ ...POOL, timeoutMs: 50, retries: 1 });
    expect(await giveUp.getJson(`${always.url}/slow`)).toEqual({
      ok: false,
      kind: 'timeout',
      reason: 'no complete answer within 50 ms',
    });
  });

  it('pauses the whole pool on a 429 until Retry-After has passed, then retries', async () => {
    // The first request is rate limited at once; the other requests take 20 ms each.
    const server = await scriptedServer((n) =>
      n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200, body: '{}', delayMs: 20 },
    );
    const pool = createRequestPool({ ...POOL, concurrency: 3 });
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, index) => pool.getJson(`${server.url}/item/${index}`)),
    );
    expect(results.every((result) => result.ok)).toBe(true);
    const rateLimitedAt = server.sentAt.get(429)?.[0] ?? Number.NaN;
    // The first three requests were on their way before the 429 (they may even reach the server after it was
    // sent) and finish; every later one, the retry included, starts only once the second has passed.
    expect(server.arrivals).toHaveLength(13);
    const startedLater = server.arrivals.slice(3);
    expect(startedLater.filter((arrival) => arrival.at < rateLimitedAt + 900)).toEqual([]);
    expect(server.sentAt.get(429)).toHaveLength(1);
    expect(pool.retries).toBe(1);
  });

  it('stops every request after a 401, without starting the queued ones', async () => {
    const server = await scriptedServer(() => ({
      status: 401,
      body: '{"error":{"code":"TOKEN_INVALID","description":"Invalid access token."}}',
      delayMs: 10,
    }));
    const pool = createRequestPool({ ...POOL, concurrency: 3 });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, index) => pool.getJson(`${server.url}/b/${index}`)),
    );
    expect(results.every((result) => !result.ok && result.kind === 'auth')).toBe(true);
    expect(pool.stopped).toEqual({ kind: 'auth', reason: 'HTTP 401: TOKEN_INVALID: Invalid access token.' });
    expect(server.arrivals.length).toBeLessThanOrEqual(3);
    expect(await pool.getJson(`${server.url}/later`)).toMatchObject({ ok: false, kind: 'auth' });
    expect(server.arrivals.length).toBeLessThanOrEqual(3);
  });

  it('starts nothing after the deadline and cuts what is in flight', async () => {
    const server = await scriptedServer(() => ({ status: 200, body: '{}', delayMs: 100 }));
    const pool = createRequestPool({ ...POOL, concurrency: 2, deadlineAt: Date.now() + 350 });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, index) => pool.getJson(`${server.url}/i/${index}`)),
    );
    expect(results.filter((result) => result.ok).length).toBeGreaterThan(0);
    expect(results.filter((result) => !result.ok && result.kind === 'deadline').length).toBeGreaterThan(0);
    expect(pool.stopped?.kind).toBe('deadline');
    expect(server.arrivals.length).toBeLessThan(10);
    pool.close();

    const late = createRequestPool({ ...POOL, deadlineAt: Date.now() - 1 });
    expect(await late.getJson(`${server.url}/never`)).toMatchObject({ ok: false, kind: 'deadline' });
    expect(late.requests).toBe(0);
  });

  it('reads Retry-After as seconds or as an HTTP date, and error bodies as one line', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:59:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(
      describeErrorBody('{"error":{"code":"TOKEN_MISSING","description":"An access token must be supplied."}}'),
    ).toBe('TOKEN_MISSING: An access token must be supplied.');
    expect(describeErrorBody('<html><head><title>502 Bad Gateway</title></head></html>')).toBe('502 Bad Gateway');
  });
});
