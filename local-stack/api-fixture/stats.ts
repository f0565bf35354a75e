/**
 * The fixture's own counters and its control routes (/health, the stats): what a test or a benchmark reads to see
 * how a client behaved — how many requests, which answers, how many at once.
 */
import type http from 'node:http';

export interface ApiFixtureStats {
  /** Requests answered or being answered, /health excluded. */
  requests: number;
  /** By HTTP status; a request whose client left before the answer was sent counts as "aborted". */
  byStatus: Record<string, number>;
  /**
   * By route pattern: "/v3/businesses/search", "/v3/businesses/{id}", "/api/v1/items/{id}", "/v3/* (unknown)",
   * "/api/v1/* (unknown)", "other".
   */
  byPath: Record<string, number>;
  /** The most requests in progress at the same time (arrival until the answer is written or the client left). */
  maxConcurrent: number;
}

/** The fixture's control routes: never delayed, faulted or counted (paths no real API serves). */
export const STATS_PATH = '/__fixture/stats';
export const STATS_RESET_PATH = '/__fixture/stats/reset';

const count = (table: Record<string, number>, key: string): void => {
  table[key] = (table[key] ?? 0) + 1;
};

export class RequestStats {
  private stats: ApiFixtureStats = { requests: 0, byStatus: {}, byPath: {}, maxConcurrent: 0 };
  private inFlight = 0;

  snapshot(): ApiFixtureStats {
    const { stats } = this;
    return { ...stats, byStatus: { ...stats.byStatus }, byPath: { ...stats.byPath } };
  }

  /** Zeroes the counters; maxConcurrent restarts from the requests in progress now. */
  reset(): void {
    this.stats = { requests: 0, byStatus: {}, byPath: {}, maxConcurrent: this.inFlight };
  }

  /** Counts a request that arrived; it is in progress until the returned `release` runs (the first call counts). */
  arrive(): () => void {
    this.stats.requests++;
    this.inFlight++;
    this.stats.maxConcurrent = Math.max(this.stats.maxConcurrent, this.inFlight);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
    };
  }

  countPath(pattern: string): void {
    count(this.stats.byPath, pattern);
  }

  countStatus(status: string): void {
    count(this.stats.byStatus, status);
  }
}

/** Answers /health and the stats routes; false for any other path. */
export function answerControlRoute(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  pathname: string,
  stats: RequestStats,
): boolean {
  if (pathname === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true }));
    return true;
  }
  if (pathname !== STATS_PATH && pathname !== STATS_RESET_PATH) return false;
  const wanted = pathname === STATS_PATH ? 'GET' : 'POST';
  if (req.method !== wanted) {
    res.writeHead(405, { 'content-type': 'application/json', allow: wanted });
    res.end(JSON.stringify({ error: { code: 'METHOD_NOT_ALLOWED', description: `${pathname} takes ${wanted}` } }));
    return true;
  }
  if (wanted === 'POST') stats.reset();
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(stats.snapshot()));
  return true;
}
