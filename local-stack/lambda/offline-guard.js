// Preloaded into the serverless-offline process (`node --import …/offline-guard.js`) by the local stack.
//
// serverless-offline's invoke API authenticates nothing: any web page could POST to its port and run a function.
// The stack therefore announces the front (front.ts) instead, which checks signatures, and starts serverless-offline on a
// private port with this guard, which lets in only requests carrying the front's per-stack token. Every HTTP server
// in the process is covered (the invoke API, and the HTTP and websocket servers serverless-offline may start),
// because the guard sits in Node's http.Server rather than in serverless-offline's own code.
//
// Plain JavaScript because it is loaded before tsx could be; it has no dependencies.
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';

const HEADER = 'x-cloud-parallel-front-token';
const token = process.env.CLOUD_PARALLEL_FRONT_TOKEN ?? '';
// Without a token nothing can match, so every request is refused: the guard fails closed.
const expected = Buffer.from(token.length >= 32 ? token : '');

/** @param {import('node:http').IncomingMessage} req */
function carriesToken(req) {
  const given = Buffer.from(String(req.headers[HEADER] ?? ''));
  return expected.length > 0 && given.length === expected.length && timingSafeEqual(given, expected);
}

const emit = http.Server.prototype.emit;
/**
 * @this {import('node:http').Server}
 * @param {string | symbol} event
 * @param {unknown[]} args
 */
http.Server.prototype.emit = function guardedEmit(event, ...args) {
  if (event === 'request' || event === 'checkContinue' || event === 'checkExpectation') {
    const req = /** @type {import('node:http').IncomingMessage} */ (args[0]);
    const res = /** @type {import('node:http').ServerResponse} */ (args[1]);
    if (!carriesToken(req)) {
      const body = JSON.stringify({
        __type: 'AccessDeniedException',
        message:
          "serverless-offline is reached through the local stack's Lambda endpoint (AWS_ENDPOINT_URL_LAMBDA), which checks signatures",
      });
      res.writeHead(403, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-amzn-errortype': 'AccessDeniedException',
      });
      res.end(body);
      req.resume();
      return true;
    }
    delete req.headers[HEADER];
  } else if (event === 'upgrade') {
    const req = /** @type {import('node:http').IncomingMessage} */ (args[0]);
    const socket = /** @type {import('node:net').Socket} */ (args[1]);
    if (!carriesToken(req)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    delete req.headers[HEADER];
  }
  return emit.call(this, event, ...args);
};
