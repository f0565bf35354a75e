/**
 * The local stack's Lambda endpoint: an authenticating front for serverless-offline's invoke API, which checks no
 * signature and would run any function for any web page that POSTs to it. The front listens on the port the stack
 * announces (AWS_ENDPOINT_URL_LAMBDA), accepts only what request-guard.ts lets in (not from a page, addressed to
 * the loopback name, signed with the stack's credentials), and forwards it to serverless-offline on a private port
 * with a per-stack token. serverless-offline itself runs with offline-guard.js preloaded, which answers any request
 * without that token 403 — so reaching its port directly, from a page or anything else, runs nothing.
 *
 * Run as a process, it is `cli.ts`, which prints one JSON line when ready on stdout; logs go to stderr.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { refuseBrowserRequest, refuseUnsigned, type Credentials, type GuardRefusal } from '../shared/request-guard.ts';
import { requestUpstream } from '../shared/forward.ts';
import { listenOnLoopback } from '../shared/server-process.ts';

/** The header the front adds and offline-guard.js requires; never accepted from a client. */
export const FRONT_TOKEN_HEADER = 'x-cloud-parallel-front-token';
/** The environment variable that hands serverless-offline's guard the token. */
export const FRONT_TOKEN_ENV = 'CLOUD_PARALLEL_FRONT_TOKEN';
/** Lambda's synchronous payload limit is 6 MB; a little more for the JSON around it. */
const MAX_BODY_BYTES = 6 * 1024 * 1024 + 64 * 1024;

/** Lambda's own answers to a request it does not authenticate. */
const LAMBDA_AUTH_ERRORS: Record<GuardRefusal['reason'], { type: string; status: number }> = {
  browser: { type: 'AccessDeniedException', status: 403 },
  host: { type: 'AccessDeniedException', status: 403 },
  missing: { type: 'MissingAuthenticationTokenException', status: 403 },
  malformed: { type: 'IncompleteSignatureException', status: 403 },
  expired: { type: 'InvalidSignatureException', status: 403 },
  'unknown-key': { type: 'UnrecognizedClientException', status: 403 },
  'bad-signature': { type: 'InvalidSignatureException', status: 403 },
};

export interface LambdaFrontOptions {
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** serverless-offline's invoke API, on its private port. */
  target: string;
  credentials: Credentials;
  /** Sent to the target on every forwarded request. */
  token: string;
  silent?: boolean;
  /** Where log lines go (default stderr, unless silent). */
  log?: (line: string) => void;
}

export interface RunningLambdaFront {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

class FrontRefusal extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function refusalFor(refusal: GuardRefusal): FrontRefusal {
  const { type, status } = LAMBDA_AUTH_ERRORS[refusal.reason];
  return new FrontRefusal(type, status, refusal.message);
}

/** Answers as Lambda's JSON protocol does, or cuts the connection when the reply has already begun. */
function sendError(res: http.ServerResponse, error: FrontRefusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ __type: error.type, message: error.message });
  res.writeHead(error.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-amzn-errortype': error.type,
    'x-amzn-requestid': randomUUID(),
  });
  res.end(body);
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new FrontRefusal(
        'RequestTooLargeException',
        413,
        `Request must be smaller than ${MAX_BODY_BYTES} bytes for the Invoke operation`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** What each request needs from the front's options. */
interface FrontContext {
  target: URL;
  token: string;
  credentials: Credentials;
  allowedHosts: Set<string>;
  log: (message: string) => void;
}

/** A checked request's headers as serverless-offline gets them: its own host, the body's length, the token. */
function upstreamHeaders(front: FrontContext, req: http.IncomingMessage, body: Buffer): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {
    ...req.headers,
    host: front.target.host,
    'content-length': body.length,
    [FRONT_TOKEN_HEADER]: front.token,
  };
  delete headers['transfer-encoding'];
  return headers;
}

/** Sends a checked request on to serverless-offline with the token, and streams its answer back. */
function forward(front: FrontContext, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
  const { target } = front;
  const upstream = requestUpstream(target, req, upstreamHeaders(front, req, body), (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', (error) => {
    front.log(`serverless-offline did not answer ${req.method} ${req.url}: ${error.message}`);
    sendError(
      res,
      new FrontRefusal(
        'ServiceException',
        502,
        `The local Lambda (serverless-offline) did not answer: ${error.message}`,
      ),
    );
  });
  // A client that gives up (its timeout, Ctrl-C) ends the invocation's wait here too.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  upstream.end(body);
}

/**
 * An asynchronous invocation (`InvocationType: Event`, how S3 notifications invoke the rates function): answered
 * 202 at once, as Lambda does, and run in the background as a synchronous one. serverless-offline runs an Event
 * invocation without awaiting it, so a handler that throws (a run Lambda would retry) is an unhandled rejection
 * that ends serverless-offline, and with it every function of the stack. A synchronous invocation's failure comes
 * back as a FunctionError instead, which is logged here; the handler's own log has the details. Lambda's retries of
 * a failed async invocation (maximumRetryAttempts) are not emulated: the failure is reported, not repeated.
 */
function invokeInBackground(
  front: FrontContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: Buffer,
): void {
  const headers = { ...upstreamHeaders(front, req, body), 'x-amz-invocation-type': 'RequestResponse' };
  const what = `async invocation ${req.url}`;
  const upstream = requestUpstream(front.target, req, headers, (answer) => {
    const failed = answer.headers['x-amz-function-error'] !== undefined || (answer.statusCode ?? 500) >= 300;
    const parts: Buffer[] = [];
    answer.on('data', (part: Buffer) => {
      if (failed) parts.push(part);
    });
    answer.on('end', () => {
      if (failed)
        front.log(`${what} failed (${answer.statusCode}): ${Buffer.concat(parts).toString('utf8').slice(0, 2000)}`);
    });
  });
  upstream.on('error', (error) => front.log(`${what}: serverless-offline did not answer: ${error.message}`));
  upstream.end(body);
  res.writeHead(202, { 'content-length': 0, 'x-amzn-requestid': randomUUID() });
  res.end();
}

async function handle(front: FrontContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  try {
    const browser = refuseBrowserRequest(req, front.allowedHosts);
    if (browser) throw refusalFor(browser);
    const body = await readBody(req);
    const unsigned = refuseUnsigned(req, { credentials: front.credentials, service: 'other' }, body);
    if (unsigned) throw refusalFor(unsigned);
    if (req.method !== 'POST')
      throw new FrontRefusal(
        'AccessDeniedException',
        403,
        `${req.method} is not an operation of the local Lambda; invocations are POSTs`,
      );
    delete req.headers[FRONT_TOKEN_HEADER];
    if (String(req.headers['x-amz-invocation-type'] ?? '').toLowerCase() === 'event') {
      invokeInBackground(front, req, res, body);
      return;
    }
    forward(front, req, res, body);
  } catch (error) {
    if (error instanceof FrontRefusal) {
      front.log(`${req.method} ${req.url} refused: ${error.type}: ${error.message}`);
      sendError(res, error);
      req.resume();
      return;
    }
    process.stderr.write(`[lambda-front] internal error: ${(error as Error)?.stack ?? String(error)}\n`);
    sendError(res, new FrontRefusal('ServiceException', 500, 'An internal error occurred in the local Lambda front'));
  }
}

export async function startLambdaFront(options: LambdaFrontOptions): Promise<RunningLambdaFront> {
  const host = options.host ?? '127.0.0.1';
  const allowedHosts = new Set<string>();
  const front: FrontContext = {
    target: new URL(options.target),
    token: options.token,
    credentials: options.credentials,
    allowedHosts,
    log:
      options.log ??
      ((message) => {
        if (!options.silent) process.stderr.write(`[lambda-front] ${message}\n`);
      }),
  };
  const server = http.createServer((req, res) => void handle(front, req, res));
  server.requestTimeout = 0; // an invocation may run for the function's whole timeout (15 minutes)
  const { port, endpoint } = await listenOnLoopback(server, options.port, host, allowedHosts);
  let closed: Promise<void> | undefined;
  return {
    endpoint,
    port,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
