/**
 * Every answer the dashboard sends goes through here, so each carries the same security headers: a strict
 * Content-Security-Policy (only our own script, style and images; nothing from the internet, no inline script),
 * no framing, no sniffing, no referrer (the login URL carries the token), and no caching of what S3 holds now.
 */
import type http from 'node:http';
import type { SafeHtml } from './html.ts';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(res: http.ServerResponse, csp = CONTENT_SECURITY_POLICY): void {
  res.setHeader('Content-Security-Policy', csp);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-store');
}

export function sendHtml(res: http.ServerResponse, status: number, page: SafeHtml): void {
  securityHeaders(res);
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(page.value);
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  securityHeaders(res);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(value));
}

export function redirect(res: http.ServerResponse, location: string, headers: http.OutgoingHttpHeaders = {}): void {
  securityHeaders(res);
  res.writeHead(303, { Location: location, ...headers });
  res.end();
}

/** A refusal or failure in words: JSON for the page's script, a plain page for a person. */
export function sendError(req: http.IncomingMessage, res: http.ServerResponse, status: number, message: string): void {
  if (!res.headersSent) {
    securityHeaders(res);
    const wantsJson = (req.headers.accept ?? '').includes('application/json');
    res.writeHead(status, {
      'Content-Type': wantsJson ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
    });
    res.end(wantsJson ? JSON.stringify({ error: message }) : `${message}\n`);
  } else {
    res.destroy();
  }
}
