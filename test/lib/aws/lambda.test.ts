/**
 * The project's Lambda client (lib/aws/lambda.ts) has connection and request timeouts (issue 12): an endpoint that
 * accepts the connection and never answers — a dropped invocation — fails with a clear error within the configured
 * time instead of holding the fan-out (or the CLI) forever. The default request timeout comes from the worker's
 * timeout in serverless.yml plus a margin.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createLambdaClient,
  INVOCATION_TIMEOUT_MARGIN_MS,
  invocationTimeoutMs,
  LAMBDA_MAX_TIMEOUT_SECONDS,
} from '../../../lib/aws/lambda.ts';
import { loadPrimesConfig, loadRatesConfig } from '../../../lib/config.ts';
import { fanout, lambdaBackend } from '../../../lib/fanout/index.ts';
import { PROJECT_ROOT, serverlessBin } from '../../../local-stack/service-config.ts';

/** Accepts every connection, reads whatever comes, never writes a byte. */
let silent: Server;
const sockets = new Set<Socket>();
let silentUrl: string;

beforeAll(async () => {
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
  vi.stubEnv('AWS_ENDPOINT_URL_LAMBDA', silentUrl);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
});

/** Settles with the promise's outcome, or with 'still waiting' after `ms`: an old client that never gives up fails fast. */
async function within<T>(
  ms: number,
  promise: Promise<T>,
): Promise<{ value?: T; error?: unknown; ms: number } | 'still waiting'> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const outcome = promise.then(
    (value) => ({ value, ms: performance.now() - started }),
    (error: unknown) => ({ error, ms: performance.now() - started }),
  );
  try {
    return await Promise.race([
      outcome,
      new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('createLambdaClient timeouts', () => {
  it('fails an invocation the endpoint accepted and never answered, within the configured request timeout', async () => {
    const client = createLambdaClient({ requestTimeoutMs: 300 });
    try {
      const payload = new TextEncoder().encode('{}');
      const result = await within(
        3000,
        client.send(new InvokeCommand({ FunctionName: 'w', InvocationType: 'RequestResponse', Payload: payload })),
      );
      console.log(
        `silent endpoint, requestTimeout 300 ms: ${result === 'still waiting' ? 'still waiting after 3000 ms' : `failed after ${Math.round(result.ms)} ms`}`,
      );
      expect(result).not.toBe('still waiting');
      if (result === 'still waiting') return;
      expect(result.error).toMatchObject({
        name: 'TimeoutError',
        message: expect.stringContaining('300 ms requestTimeout'),
      });
      expect(result.ms).toBeGreaterThanOrEqual(290);
      expect(result.ms).toBeLessThan(300 + 500);
    } finally {
      client.destroy();
    }
  });

  it('the fan-out names the chunk with a message that says what happened', async () => {
    const client = createLambdaClient({ requestTimeoutMs: 300 });
    try {
      const run = within(
        3000,
        fanout([{ start: 0, end: 10 }], lambdaBackend({ client, functionName: 'w' }), { retries: 0 }),
      );
      const result = await run;
      expect(result).not.toBe('still waiting');
      if (result === 'still waiting') return;
      expect(result.value?.outcomes[0]).toMatchObject({
        ok: false,
        error: {
          kind: 'transport',
          type: 'TimeoutError',
          message: expect.stringMatching(
            /^no answer from w in time \(a dropped connection or a stalled endpoint.*300 ms requestTimeout/,
          ),
        },
      });
    } finally {
      client.destroy();
    }
  });

  it('sizes the default request timeout from the worker timeout plus a margin, and refuses nonsense', () => {
    expect(invocationTimeoutMs(900)).toBe(900_000 + INVOCATION_TIMEOUT_MARGIN_MS);
    expect(invocationTimeoutMs()).toBe(LAMBDA_MAX_TIMEOUT_SECONDS * 1000 + INVOCATION_TIMEOUT_MARGIN_MS);
    expect(() => invocationTimeoutMs(901)).toThrow(/from 1 to 900/);
    expect(() => invocationTimeoutMs(Number.NaN)).toThrow(/from 1 to 900/);
    expect(() => createLambdaClient({ requestTimeoutMs: 0 })).toThrow(/requestTimeoutMs must be a positive number/);
    expect(() => createLambdaClient({ connectionTimeoutMs: -1 })).toThrow(
      /connectionTimeoutMs must be a positive number/,
    );
  });

  it('serverless.yml gives the fan-out and the rates coordinator the worker function timeout each sizes its client from', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [serverlessBin(), 'print', '--format', 'json'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' },
    });
    const printed = JSON.parse(stdout) as {
      functions: Record<string, { timeout?: number; environment?: Record<string, string> }>;
    };
    const workerTimeout = printed.functions['primes-worker']?.timeout;
    const environment = printed.functions['primes-fanout']?.environment ?? {};
    expect(environment.PRIMES_WORKER_TIMEOUT_SECONDS).toBe(String(workerTimeout));
    const config = loadPrimesConfig({ PRIMES_WORKER_FUNCTION: 'w', ...environment });
    expect(config.workerTimeoutSeconds).toBe(workerTimeout);
    // The same pair for the parallel rates job: rates coordinates, rates-worker parses.
    const ratesWorkerTimeout = printed.functions['rates-worker']?.timeout;
    expect(ratesWorkerTimeout).toBeTypeOf('number');
    const ratesEnvironment = printed.functions.rates?.environment ?? {};
    expect(ratesEnvironment.RATES_WORKER_TIMEOUT_SECONDS).toBe(String(ratesWorkerTimeout));
    const rates = loadRatesConfig({ ...ratesEnvironment, DATA_BUCKET: 'b-1' });
    expect(rates.parallel.workerTimeoutSeconds).toBe(ratesWorkerTimeout);
  }, 60_000);
});
