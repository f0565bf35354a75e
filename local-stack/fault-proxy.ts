/**
 * A small HTTP proxy that sits in front of the local S3 server and injects faults, for tests of what the jobs do
 * when S3 misbehaves. It is a real network component: point an S3 client at `endpoint` (path-style addressing) and
 * every request is forwarded to `target` unchanged — unless a rule matches it.
 *
 * A rule matches on the method and the object key (path-style `/<bucket>/<key>`, decoded), and optionally the query
 * string, and applies to the first `times` requests it matches (default 1; `Infinity` for a lasting outage):
 *
 *   - `{ status: 503, code: 'SlowDown' }`: answer with an S3 XML error body instead of forwarding. The request body
 *     is read first, as S3 does, so the client sees the error, not a broken pipe.
 *   - `{ cutAfterBytes: n }`: forward, pass the response's status and headers (so `Content-Length` still announces
 *     the whole object) and the first n bytes of its body, then destroy the connection: a download cut mid-stream.
 *   - `{ delayMs: n }`: wait n milliseconds, then forward.
 *
 * The SDK retries 500/503 answers itself (three attempts in all by default), so a fault that must outlast its
 * retries needs `times: 3` or more. Every request is logged in `requests` with what was done to it.
 *
 *   const proxy = await startFaultProxy({ target: s3Endpoint });
 *   proxy.addRule({ method: 'GET', key: 'uploads/big.csv', fault: { cutAfterBytes: 64 * 1024 } });
 *   const s3 = new S3Client({ endpoint: proxy.endpoint, forcePathStyle: true, ... });
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { requestUpstream } from './shared/forward.ts';

export type Fault =
  | { status: number; code: string; message?: string }
  | { cutAfterBytes: number }
  | { delayMs: number };

export interface FaultRule {
  /** `GET`, `PUT`, `POST`, `DELETE`, `HEAD`; any method when left out. */
  method?: string;
  /** The object key: a string matches exactly, a RegExp is tested. Any key (and bucket-level requests) when left out. */
  key?: string | RegExp;
  /** Tested against the raw query string without `?` (e.g. /partNumber=2/, /uploadId/). */
  query?: RegExp;
  /** How many matching requests get the fault; default 1. */
  times?: number;
  fault: Fault;
}

export interface ActiveRule {
  readonly rule: FaultRule;
  /** Requests this rule has faulted so far. */
  readonly hits: number;
}

export interface ProxiedRequest {
  method: string;
  key: string | null;
  query: string;
  /** The status the client saw, or null when its connection was cut before an answer. */
  status: number | null;
  /** What the proxy did: `forward`, `status`, `cut` or `delay`. */
  action: 'forward' | 'status' | 'cut' | 'delay';
}

export interface FaultProxy {
  endpoint: string;
  port: number;
  addRule(rule: FaultRule): ActiveRule;
  /** Removes every rule: from now on requests pass through. */
  clearRules(): void;
  /** Every request so far, in the order they arrived (status filled in when answered). */
  readonly requests: ProxiedRequest[];
  close(): Promise<void>;
}

/** The key of a path-style request (`/bucket/key`), decoded; null for a bucket-level request. */
function keyOf(pathname: string): string | null {
  const trimmed = pathname.replace(/^\/+/, '');
  const slash = trimmed.indexOf('/');
  if (slash === -1 || slash === trimmed.length - 1) return null;
  try {
    return decodeURIComponent(trimmed.slice(slash + 1));
  } catch {
    return trimmed.slice(slash + 1);
  }
}

function matches(rule: FaultRule, method: string, key: string | null, query: string): boolean {
  if (rule.method !== undefined && rule.method.toUpperCase() !== method) return false;
  if (rule.key !== undefined) {
    if (key === null) return false;
    if (typeof rule.key === 'string' ? rule.key !== key : !rule.key.test(key)) return false;
  }
  return rule.query === undefined || rule.query.test(query);
}

function s3ErrorXml(code: string, message: string, requestId: string): string {
  const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message><RequestId>${requestId}</RequestId>` +
    `<HostId>fault-proxy</HostId></Error>`
  );
}

/** Passes the upstream answer on until `cutAfterBytes` bytes of its body are out, then destroys both connections. */
function pipeCut(answer: http.IncomingMessage, res: http.ServerResponse, cutAfterBytes: number): void {
  // The bytes handed to the socket go out before it is destroyed: the client gets exactly the first n bytes.
  const cut = () => {
    answer.destroy();
    res.destroy();
  };
  let left = cutAfterBytes;
  if (left <= 0) {
    res.flushHeaders();
    res.socket?.write('', cut);
    return;
  }
  answer.on('data', (chunk: Buffer) => {
    if (left <= 0) return;
    const part = chunk.length <= left ? chunk : chunk.subarray(0, left);
    left -= part.length;
    if (left > 0) res.write(part);
    else res.write(part, cut);
  });
  // A body no longer than the cut goes through whole.
  answer.on('end', () => {
    if (left > 0) res.end();
  });
}

/** Forwards the request to `target` unchanged, and its answer back (whole, or cut after `cutAfterBytes`). */
function forward(
  target: URL,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  entry: ProxiedRequest,
  cutAfterBytes?: number,
): void {
  const headers = { ...req.headers };
  // This server already answered `Expect: 100-continue`; the body is sent on without waiting again.
  delete headers.expect;
  const upstream = requestUpstream(target, req, headers, (answer) => {
    entry.status = answer.statusCode ?? 502;
    res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
    if (cutAfterBytes === undefined) answer.pipe(res);
    else pipeCut(answer, res, cutAfterBytes);
  });
  upstream.on('error', () => {
    entry.status = null;
    res.destroy();
  });
  req.on('error', () => upstream.destroy());
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}

/** Answers with an S3 XML error instead of forwarding. */
function answerWithError(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  entry: ProxiedRequest,
  fault: { status: number; code: string; message?: string },
): void {
  entry.action = 'status';
  // Read the body first, as S3 does, so the client gets the answer rather than a reset while still sending.
  req.resume();
  req.once('end', () => {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const body = s3ErrorXml(fault.code, fault.message ?? 'Injected by the fault proxy.', requestId);
    entry.status = fault.status;
    res.writeHead(fault.status, {
      'Content-Type': 'application/xml',
      'Content-Length': entry.method === 'HEAD' ? 0 : Buffer.byteLength(body),
      'x-amz-request-id': requestId,
    });
    res.end(entry.method === 'HEAD' ? undefined : body);
  });
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export async function startFaultProxy(options: { target: string; port?: number; host?: string }): Promise<FaultProxy> {
  const target = new URL(options.target);
  const rules: { rule: FaultRule; hits: number }[] = [];
  const requests: ProxiedRequest[] = [];

  /** The first rule that matches and has faults left; it counts this request. */
  function take(method: string, key: string | null, query: string): Fault | undefined {
    const active = rules.find(
      (entry) => entry.hits < (entry.rule.times ?? 1) && matches(entry.rule, method, key, query),
    );
    if (active === undefined) return undefined;
    active.hits++;
    return active.rule.fault;
  }

  const server = http.createServer((req, res) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const question = rawUrl.indexOf('?');
    const key = keyOf(question === -1 ? rawUrl : rawUrl.slice(0, question));
    const query = question === -1 ? '' : rawUrl.slice(question + 1);
    const fault = take(method, key, query);
    const entry: ProxiedRequest = { method, key, query, status: null, action: 'forward' };
    requests.push(entry);

    if (fault === undefined) return forward(target, req, res, entry);
    if ('status' in fault) return answerWithError(req, res, entry, fault);
    if ('cutAfterBytes' in fault) {
      entry.action = 'cut';
      return forward(target, req, res, entry, fault.cutAfterBytes);
    }
    entry.action = 'delay';
    void sleep(fault.delayMs).then(() => forward(target, req, res, entry));
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;

  await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    requests,
    addRule(rule) {
      const entry = { rule, hits: 0 };
      rules.push(entry);
      return {
        rule,
        get hits() {
          return entry.hits;
        },
      };
    },
    clearRules() {
      rules.length = 0;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
