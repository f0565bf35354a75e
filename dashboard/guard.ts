/**
 * Who may use the dashboard: the person who started it. The local stack's other endpoints refuse every browser
 * request (local-stack/shared/request-guard.ts); a dashboard must serve a browser, so it asks for proof instead:
 *
 * - the Host must be a name the server announced (a DNS-rebound page names the attacker's host);
 * - nothing a browser marks as sent by another site (`Sec-Fetch-Site: cross-site|same-site`) is answered;
 * - a request that changes anything (not GET/HEAD) must come from a page of the dashboard itself (`Origin`);
 * - and every request must carry the session cookie, which only the URL printed by `local start` (holding a random
 *   token) sets: HttpOnly so no script reads it, SameSite=Strict so no other site's page makes the browser send it.
 */
import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';

export const TOKEN_PARAM = 'token';

export type Verdict =
  | { kind: 'pass' }
  | { kind: 'login'; cookie: string; location: string }
  | { kind: 'refuse'; status: 401 | 403; message: string };

export interface GuardSettings {
  token: string;
  allowedHosts: ReadonlySet<string>;
  /** The cookie's name carries the port: two dashboards on one machine keep their sessions apart. */
  cookieName: string;
}

function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

const refuse = (status: 401 | 403, message: string): Verdict => ({ kind: 'refuse', status, message });

/** The checks in order: Host, the browser's site marks, the origin of a change, then the session. */
export function judgeRequest(req: http.IncomingMessage, url: URL, settings: GuardSettings): Verdict {
  const host = req.headers.host?.toLowerCase();
  if (host === undefined || !settings.allowedHosts.has(host))
    return refuse(403, `The dashboard answers only to ${[...settings.allowedHosts].join(', ')} (DNS rebinding guard)`);
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site')
    return refuse(403, `Requests from another site (Sec-Fetch-Site: ${site}) are refused`);
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD' && req.headers.origin !== `http://${host}`)
    return refuse(403, `A ${method} must come from a dashboard page (Origin http://${host}); refused`);
  const cookie = cookieValue(req.headers.cookie, settings.cookieName);
  if (cookie !== undefined && sameSecret(cookie, settings.token)) return { kind: 'pass' };
  const given = url.searchParams.get(TOKEN_PARAM);
  if (given === null)
    return refuse(401, 'Open the dashboard with the URL `npx cloud-parallel local start` printed (it holds a token)');
  if (method !== 'GET' || !sameSecret(given, settings.token))
    return refuse(403, 'That token is not this dashboard’s: open the URL `npx cloud-parallel local status` prints');
  const clean = new URL(url);
  clean.searchParams.delete(TOKEN_PARAM);
  return {
    kind: 'login',
    cookie: `${settings.cookieName}=${settings.token}; HttpOnly; SameSite=Strict; Path=/`,
    location: `${clean.pathname}${clean.search}`,
  };
}
