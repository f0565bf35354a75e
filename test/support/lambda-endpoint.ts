/**
 * A small HTTP server speaking the Lambda Invoke API (`POST /2015-03-31/functions/<name>/invocations`), for tests
 * that need a real endpoint — real sockets the SDK can time out or abort — with a worker whose speed they choose.
 * It counts the invocations still open (request received, connection not closed), which is what "no invocation
 * left waiting" means from the endpoint's side.
 */
import { createServer, type IncomingMessage } from 'node:http';

export type InvokeAnswer = { payload: unknown; delayMs?: number; functionError?: string };

export interface LambdaEndpoint {
  url: string;
  /** Payloads received, in arrival order. */
  received: unknown[];
  /** Invocations whose connection is still open (answered or not). */
  readonly open: number;
  /** Resolves once no invocation is open, or rejects after `withinMs`. Returns how long it waited. */
  settled(withinMs: number): Promise<number>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

export async function startLambdaEndpoint(
  answer: (payload: unknown, functionName: string) => InvokeAnswer | Promise<InvokeAnswer>,
): Promise<LambdaEndpoint> {
  const received: unknown[] = [];
  let open = 0;
  let onSettled: (() => void) | undefined;
  const server = createServer((req, res) => {
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(req.url ?? '');
    if (req.method !== 'POST' || match === null) {
      res.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'ResourceNotFoundException' });
      res.end(JSON.stringify({ Type: 'User', message: `no route for ${req.method} ${req.url}` }));
      return;
    }
    open += 1;
    let timer: NodeJS.Timeout | undefined;
    // 'close' fires when the response was sent or when the client went away first (an aborted invocation).
    res.on('close', () => {
      clearTimeout(timer);
      open -= 1;
      if (open === 0) onSettled?.();
    });
    void (async () => {
      let payload: unknown;
      let answered: InvokeAnswer;
      try {
        payload = JSON.parse((await readBody(req)) || 'null');
        received.push(payload);
        answered = await answer(payload, decodeURIComponent(match[1]!));
      } catch (error) {
        // A client gone mid-body, or a bug in the test's answer: a 500 the test will see, never an unhandled rejection.
        if (!res.headersSent && !res.destroyed)
          res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ message: String(error) }));
        return;
      }
      const { payload: reply, delayMs = 0, functionError } = answered;
      timer = setTimeout(() => {
        res.writeHead(200, {
          'content-type': 'application/json',
          'x-amz-executed-version': '$LATEST',
          ...(functionError === undefined ? {} : { 'x-amz-function-error': functionError }),
        });
        res.end(JSON.stringify(reply));
      }, delayMs);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    get open() {
      return open;
    },
    settled(withinMs) {
      const since = performance.now();
      if (open === 0) return Promise.resolve(0);
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${open} invocation(s) still open at the endpoint after ${withinMs} ms`)),
          withinMs,
        );
        onSettled = () => {
          clearTimeout(timer);
          resolve(performance.now() - since);
        };
      });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
