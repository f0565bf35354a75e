/**
 * The S3-compatible server of the local stack: `s3rver` behind a small HTTP front that makes it work with
 * standard clients (AWS SDK v3, AWS CLI) at their default settings, and that emits AWS-shaped bucket
 * notifications. What the front fixes and why, and what it does not emulate: README.md in this folder.
 *
 * This file wires the parts together: the store (state/), the request codec (protocol/), the handlers
 * (routes/), notifications, and one HTTP server that checks every request's signature first.
 * Run as a process, it is `cli.ts`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { guardRequest, type Credentials } from '../shared/request-guard.ts';
import { listenOnLoopback } from '../shared/server-process.ts';
import { describeError, log } from './log.ts';
import { createNotifier, type Notifier, type NotificationRule, type S3EventLike } from './notifications.ts';
import { FrontError, S3_AUTH_ERRORS } from './protocol/errors.ts';
import { sendError } from './protocol/reply.ts';
import { accessKeyIdOf, classify, parseTarget, type RequestContext } from './protocol/request.ts';
import { route } from './routes/dispatch.ts';
import type { S3Front } from './routes/front.ts';
import { makeObjectWritesAtomic } from './state/atomic-writes.ts';
import { confineStore } from './state/confine.ts';
import { makeMultipartAssemblyLean } from './state/multipart-assembly.ts';
import { makePartWritesSafe } from './state/part-writes.ts';
import { bucketNameProblem } from './state/names.ts';
import { loadS3rver, type S3rverApp } from './state/s3rver.ts';

export {
  encodeS3EventKey,
  matchesRule,
  type NotificationRule,
  type S3EventLike,
  type S3EventRecordLike,
} from './notifications.ts';
export { isAwsChunked } from './protocol/headers.ts';

export interface S3ServerOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Data directory; persists across restarts. */
  directory: string;
  /** Created at start if missing. */
  buckets: string[];
  /** Default us-east-1. */
  region?: string;
  rules?: NotificationRule[];
  onNotification?: (target: string, event: S3EventLike) => void | Promise<void>;
  /** No request log on stderr (errors are still logged). */
  silent?: boolean;
  /** The only credentials requests may be signed with (SigV4, header or presigned); see request-guard.ts. */
  credentials: Credentials;
  /**
   * More `host:port` names to answer to besides the loopback ones: a proxy in front of the server (the tests'
   * fault-proxy.ts) forwards the client's Host, which names the proxy, and the client signed for it.
   */
  hostAliases?: string[];
}

export interface RunningS3Server {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

export async function startS3Server(options: S3ServerOptions): Promise<RunningS3Server> {
  const host = options.host ?? '127.0.0.1';
  const rules = options.rules ?? [];
  checkOptions(options.buckets, rules);
  const directory = path.resolve(options.directory);
  await fsp.mkdir(directory, { recursive: true });
  const { s3rver, account } = await openStore(directory, options.buckets);
  const store = s3rver.store;

  const contexts = new AsyncLocalStorage<RequestContext>();
  const ownerId = `A${createHash('sha256').update(directory).digest('hex').slice(0, 13).toUpperCase()}`;
  const notifier = createNotifier({
    rules,
    region: options.region ?? 'us-east-1',
    ownerId,
    deliver: options.onNotification,
    store,
  });
  const silent = options.silent ?? false;
  watchS3rver(s3rver, notifier, contexts, silent);
  const s3rverHandler = s3rver.callback();
  const front: S3Front = {
    store,
    account,
    notifier,
    contexts,
    // Koa reads only the stream, method, url, headers, socket and HTTP version of the request object.
    toS3rver: (req, res, body) => s3rverHandler(body ? (body as unknown as http.IncomingMessage) : req, res),
  };

  const allowedHosts = new Set<string>();
  const server = http.createServer((req, res) =>
    handleRequest(front, req, res, { credentials: options.credentials, allowedHosts, silent }),
  );
  server.requestTimeout = 0; // large uploads may take longer than Node's default of 5 minutes
  server.keepAliveTimeout = 65_000; // longer than SDK agents keep idle sockets, so reused sockets are not cut
  server.headersTimeout = 66_000; // must exceed keepAliveTimeout

  for (const alias of options.hostAliases ?? []) allowedHosts.add(alias.toLowerCase());
  const { port, endpoint } = await listenOnLoopback(server, options.port, host, allowedHosts);
  server.on('error', (error) => log(`server error: ${describeError(error)}`));
  return { endpoint, port, close: closer(server, s3rver) };
}

function checkOptions(buckets: string[], rules: NotificationRule[]): void {
  for (const bucket of buckets) {
    const problem = bucketNameProblem(bucket);
    if (problem) throw new Error(problem.message);
  }
  for (const rule of rules) {
    if (!Array.isArray(rule.events) || rule.events.length === 0) {
      throw new Error(`Notification rule for "${rule.target}" has no events`);
    }
  }
}

/** s3rver over `directory`, its store confined to it and writing whole objects, with the buckets created. */
async function openStore(
  directory: string,
  buckets: string[],
): Promise<{ s3rver: S3rverApp; account: S3Front['account'] }> {
  const { S3rver, account } = loadS3rver();
  const s3rver = new S3rver({
    directory,
    silent: true, // s3rver logs to stdout, which the CLI reserves for JSON lines; the front logs to stderr
    allowMismatchedSignatures: true,
    vhostBuckets: false,
    resetOnClose: false,
    configureBuckets: [],
  });
  // Both before confineStore, which wraps putPart and putObjectMultipart with its checks.
  makePartWritesSafe(s3rver.store);
  makeMultipartAssemblyLean(s3rver.store);
  confineStore(s3rver.store, directory);
  makeObjectWritesAtomic(s3rver.store);
  for (const bucket of buckets) await s3rver.store.putBucket(bucket);
  return { s3rver, account };
}

function watchS3rver(
  s3rver: S3rverApp,
  notifier: Notifier,
  contexts: AsyncLocalStorage<RequestContext>,
  silent: boolean,
): void {
  s3rver.on('event', (raw) => {
    const context = contexts.getStore();
    notifier
      .fromS3rver(raw, context)
      .catch((error: unknown) => log(`could not build notification: ${describeError(error)}`));
  });
  s3rver.on('error', (error) => {
    const { status, code } = (error ?? {}) as { status?: unknown; code?: unknown };
    if (typeof code === 'string' && /^(HPE_|ECONNRESET|EPIPE|ERR_STREAM_PREMATURE_CLOSE)/.test(code)) {
      if (!silent) log(`request aborted by the client (${code})`);
    } else if (typeof status !== 'number' || status >= 500) {
      log(`internal error: ${describeError(error)}`);
    }
  });
}

interface RequestSettings {
  credentials: Credentials;
  allowedHosts: Set<string>;
  silent: boolean;
}

/** Every request: the signature check, then the handler inside its request context; errors become S3 errors. */
function handleRequest(
  front: S3Front,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  settings: RequestSettings,
): void {
  const started = Date.now();
  const rawUrl = req.url ?? '/';
  const question = rawUrl.indexOf('?');
  const pathname = question === -1 ? rawUrl : rawUrl.slice(0, question);
  const query = new URLSearchParams(question === -1 ? '' : rawUrl.slice(question + 1));
  const target = parseTarget(pathname);
  const context: RequestContext = {
    operation: classify(req.method ?? 'GET', target, query, req.headers),
    sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
    requestId: randomBytes(8).toString('hex').toUpperCase(),
  };
  res.setHeader('x-amz-request-id', context.requestId);
  res.once('finish', () => {
    if (!settings.silent || res.statusCode >= 500) {
      log(`${req.method} ${rawUrl} ${context.operation} → ${res.statusCode} (${Date.now() - started} ms)`);
    }
  });
  const refusal = guardRequest(req, {
    credentials: settings.credentials,
    allowedHosts: settings.allowedHosts,
    service: 's3',
  });
  if (refusal) {
    sendError(res, new FrontError(S3_AUTH_ERRORS[refusal.reason], refusal.message), req.method);
    req.resume(); // drain what the client still sends, so it reads the refusal instead of a reset
    return;
  }
  registerAccessKey(front.account, accessKeyIdOf(req.headers, query));
  front.contexts
    .run(context, () => route(front, req, res, context, target, query))
    .catch((error: unknown) => {
      if (error instanceof FrontError) {
        sendError(res, error, req.method);
      } else {
        log(`internal error on ${req.method} ${rawUrl}: ${describeError(error)}`);
        sendError(
          res,
          new FrontError('InternalError', 'We encountered an internal error. Please try again.'),
          req.method,
        );
      }
    });
}

/** s3rver looks up the signing key's account; every key the guard let through gets one. */
function registerAccessKey(account: S3Front['account'], id: string | undefined): void {
  if (id && !account.registry.has(id)) account.DUMMY_ACCOUNT.createKeyPair(id, id);
}

function closer(server: http.Server, s3rver: S3rverApp): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= new Promise<void>((resolve) => {
      const force = setTimeout(() => server.closeAllConnections(), 2000);
      server.close(() => {
        clearTimeout(force);
        s3rver.logger?.close?.();
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };
}
