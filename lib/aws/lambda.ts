import { LambdaClient } from '@aws-sdk/client-lambda';

/** Lambda's hard limit on a function's timeout: no invocation runs longer, whatever serverless.yml says. */
export const LAMBDA_MAX_TIMEOUT_SECONDS = 900;

/**
 * Added to the invoked function's timeout to get the client's request timeout: the function's init phase (up to
 * 10 s, not counted in its timeout), Lambda's own reply after a `Sandbox.Timedout`, and the network. Generous on
 * purpose: a request timeout shorter than the worker could run would abandon (and retry) a worker still working.
 */
export const INVOCATION_TIMEOUT_MARGIN_MS = 60_000;

/** TCP connect to the Lambda endpoint: a healthy endpoint accepts in milliseconds; this only catches a dead route. */
export const DEFAULT_CONNECTION_TIMEOUT_MS = 10_000;

export interface LambdaClientOptions {
  /**
   * Timeout in seconds of the function this client invokes (serverless.yml `functions.<name>.timeout`), default
   * {@link LAMBDA_MAX_TIMEOUT_SECONDS}, which bounds every function. Sizes the request timeout.
   */
  workerTimeoutSeconds?: number;
  /** Overrides the request timeout derived from `workerTimeoutSeconds` (tests use a short one). */
  requestTimeoutMs?: number;
  /** Default {@link DEFAULT_CONNECTION_TIMEOUT_MS}. */
  connectionTimeoutMs?: number;
}

/** How long the client waits for an invocation's reply: the function's timeout plus {@link INVOCATION_TIMEOUT_MARGIN_MS}. */
export function invocationTimeoutMs(workerTimeoutSeconds: number = LAMBDA_MAX_TIMEOUT_SECONDS): number {
  if (
    !Number.isFinite(workerTimeoutSeconds) ||
    workerTimeoutSeconds <= 0 ||
    workerTimeoutSeconds > LAMBDA_MAX_TIMEOUT_SECONDS
  ) {
    throw new RangeError(
      `workerTimeoutSeconds must be a number of seconds from 1 to ${LAMBDA_MAX_TIMEOUT_SECONDS} (Lambda's limit), got ${workerTimeoutSeconds}`,
    );
  }
  return workerTimeoutSeconds * 1000 + INVOCATION_TIMEOUT_MARGIN_MS;
}

function positiveMs(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`createLambdaClient: ${name} must be a positive number of milliseconds, got ${value}`);
  return value;
}

/**
 * The one way this project builds a Lambda client; the endpoint comes from AWS_ENDPOINT_URL_LAMBDA when
 * set (the local stack), like every other SDK setting. One attempt per call: the fan-out retries with
 * its own backoff and jitter, and two stacked retry layers would multiply the attempts.
 *
 * Timeouts: without them the SDK waits forever on a connection that was dropped without a reset (a NAT or
 * load balancer that forgot it, an endpoint that accepted and hung), and a fan-out waits with it. The request
 * timeout runs from sending the invocation to its reply, so it must outlast the worker: the worker's timeout
 * plus a margin. The socket idle timeout is the same, as a synchronous invocation sends nothing while it runs.
 */
export function createLambdaClient(options: LambdaClientOptions = {}): LambdaClient {
  const requestTimeout = positiveMs(
    'requestTimeoutMs',
    options.requestTimeoutMs ?? invocationTimeoutMs(options.workerTimeoutSeconds),
  );
  const connectionTimeout = positiveMs(
    'connectionTimeoutMs',
    options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
  );
  return new LambdaClient({
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout,
      requestTimeout,
      // Without it, @smithy/node-http-handler only logs a warning when requestTimeout passes and keeps waiting.
      throwOnRequestTimeout: true,
      socketTimeout: requestTimeout,
      // The SDK's default of 50 sockets would quietly cap a fan-out's concurrency; a worker can run for
      // minutes, so each in-flight invocation holds its socket that long.
      httpAgent: { maxSockets: 1000, keepAlive: true },
      httpsAgent: { maxSockets: 1000, keepAlive: true },
    },
  });
}
