import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import { judgeRequest } from '../../dashboard/guard.ts';

const TOKEN = 'a'.repeat(43);
const settings = {
  token: TOKEN,
  allowedHosts: new Set(['127.0.0.1:4580', 'localhost:4580']),
  cookieName: 'cp_dashboard_4580',
};

function judge(path: string, headers: http.IncomingHttpHeaders, method = 'GET') {
  const req = { method, headers: { host: '127.0.0.1:4580', ...headers } } as http.IncomingMessage;
  return judgeRequest(req, new URL(path, 'http://dashboard.invalid'), settings);
}

const session = { cookie: `other=1; cp_dashboard_4580=${TOKEN}` };

describe('judgeRequest', () => {
  it('passes a request with the session cookie', () => {
    expect(judge('/data', session)).toEqual({ kind: 'pass' });
    expect(judge('/data/uploads', { ...session, origin: 'http://127.0.0.1:4580' }, 'POST')).toEqual({ kind: 'pass' });
  });

  it('answers 401 without a cookie or token, 403 to a wrong token or the cookie of another port', () => {
    expect(judge('/data', {})).toMatchObject({ kind: 'refuse', status: 401 });
    expect(judge('/data?token=nope', {})).toMatchObject({ kind: 'refuse', status: 403 });
    expect(judge('/data', { cookie: `cp_dashboard_4581=${TOKEN}` })).toMatchObject({ kind: 'refuse', status: 401 });
    expect(judge('/data', { cookie: `cp_dashboard_4580=${TOKEN}x` })).toMatchObject({ kind: 'refuse', status: 401 });
  });

  it('swaps the token for an HttpOnly, SameSite=Strict cookie and sends the browser to the URL without it', () => {
    expect(judge(`/data?upload=uploads%2Fa.csv&token=${TOKEN}`, {})).toEqual({
      kind: 'login',
      cookie: `cp_dashboard_4580=${TOKEN}; HttpOnly; SameSite=Strict; Path=/`,
      location: '/data?upload=uploads%2Fa.csv',
    });
    // A token is for opening a page, not for changing anything.
    expect(judge(`/data/uploads?token=${TOKEN}`, { origin: 'http://127.0.0.1:4580' }, 'POST')).toMatchObject({
      status: 403,
    });
  });

  it('refuses a foreign Host (DNS rebinding), cross-site marks and changes from another origin, cookie or not', () => {
    expect(judge('/data', { ...session, host: 'evil.example' })).toMatchObject({ status: 403 });
    expect(judge('/data', { ...session, host: undefined })).toMatchObject({ status: 403 });
    expect(judge('/data', { ...session, 'sec-fetch-site': 'cross-site' })).toMatchObject({ status: 403 });
    expect(judge('/data', { ...session, 'sec-fetch-site': 'same-site' })).toMatchObject({ status: 403 });
    expect(judge('/data', { ...session, 'sec-fetch-site': 'same-origin' })).toEqual({ kind: 'pass' });
    expect(judge('/data/uploads', session, 'POST')).toMatchObject({ status: 403 });
    expect(judge('/data/uploads', { ...session, origin: 'http://evil.example' }, 'POST')).toMatchObject({
      status: 403,
    });
    expect(judge('/data/uploads', { ...session, origin: 'null' }, 'POST')).toMatchObject({ status: 403 });
  });
});
