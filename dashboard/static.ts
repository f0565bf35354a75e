/**
 * The dashboard's own stylesheet and scripts, read once from dashboard/static/ at start: a fixed list, so no
 * request path ever reaches the file system.
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { fileURLToPath } from 'node:url';
import { securityHeaders } from './http.ts';

const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

export const STATIC_FILES = ['dashboard.css', 'common.js', 'data.js', 'runs.js', 'scrapes.js'] as const;

export function loadStaticFiles(): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of STATIC_FILES) {
    const body = readFileSync(fileURLToPath(new URL(`./static/${name}`, import.meta.url)));
    files.set(`/static/${name}`, { body, type: TYPES[name.slice(name.lastIndexOf('.'))]! });
  }
  return files;
}

export function sendStatic(res: http.ServerResponse, file: { body: Buffer; type: string }): void {
  securityHeaders(res);
  res.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length });
  res.end(file.body);
}
