import { InfrastructureError } from '../errors.ts';

/**
 * How the fan-out tells failures apart. A backend throws a {@link FanoutError} when it knows what went
 * wrong (the worker threw, a worker thread died); anything else it throws — AWS SDK errors, Node socket
 * errors — is sorted by {@link classifyError}. The classification decides one thing: is another attempt
 * likely to go differently?
 */

export type FanoutErrorKind =
  /** The worker ran the task and it threw (Lambda's `FunctionError`, or the exported function threw). */
  | 'function'
  /** The task never ran to completion for reasons outside the worker's code: network, service, setup. */
  | 'transport'
  /** The service refused the call because of rate or concurrency limits. */
  | 'throttled'
  /** The fan-out's signal stopped the task, or the backend was closed. */
  | 'aborted';

/** What a failed task reports: plain data, so it survives JSON and `structuredClone`. */
export interface TaskError {
  kind: FanoutErrorKind;
  type: string;
  message: string;
}

export class FanoutError extends InfrastructureError {
  readonly kind: FanoutErrorKind;
  /** The underlying error's name (`TooManyRequestsException`, `ECONNRESET`, the worker's `errorType`, ...). */
  readonly type: string;
  /**
   * Whether another attempt may succeed. Function errors are never retryable here: the fan-out's
   * `retryFunctionErrors` option alone decides whether they are retried.
   */
  readonly retryable: boolean;

  constructor(
    kind: FanoutErrorKind,
    type: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FanoutError';
    this.kind = kind;
    this.type = type;
    this.retryable = kind === 'function' || kind === 'aborted' ? false : (options.retryable ?? kind === 'throttled');
  }

  /** FANOUT_FUNCTION, FANOUT_TRANSPORT, FANOUT_THROTTLED or FANOUT_ABORTED. */
  override get code(): string {
    return `FANOUT_${this.kind.toUpperCase()}`;
  }

  toTaskError(): TaskError {
    return { kind: this.kind, type: this.type, message: this.message };
  }
}

// The lists below follow the AWS SDK's own retry classification (@smithy/core, service-error-classification),
// so a client with `maxAttempts: 1` plus this module retries the same errors the SDK would have.
const THROTTLING_NAMES = new Set([
  'BandwidthLimitExceeded',
  // Lambda answers 502 while EC2 throttles the creation of the function's network interfaces: a throttle
  // in all but status code, and the SDK treats it as one.
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
]);

const TRANSIENT_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  // Lambda's own "wait and try again" answers: the function or its VPC/SnapStart setup is still coming up.
  'ResourceConflictException',
  'ResourceNotReadyException',
  'ENINotReadyException',
  'SnapStartNotReadyException',
  'CodeArtifactUserPendingException',
  'EFSMountTimeoutException',
  'EFSMountConnectivityException',
]);

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const TRANSIENT_STATUS = new Set([500, 502, 503, 504]);

/**
 * Lambda reports these with a 5xx status, but they are the function's configuration (VPC, KMS, package),
 * not a passing outage: every retry would fail the same way, so they fail fast.
 */
const PERMANENT_SERVER_NAMES = new Set([
  'EC2AccessDeniedException',
  'ENILimitReachedException',
  'InvalidRuntimeException',
  'InvalidSecurityGroupIDException',
  'InvalidSubnetIDException',
  'InvalidZipFileException',
  'KMSAccessDeniedException',
  'KMSDisabledException',
  'KMSInvalidStateException',
  'KMSNotFoundException',
  'SubnetIPAddressLimitReachedException',
]);

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

function typeOf(error: ErrorLike): string {
  const name = typeof error.name === 'string' && error.name !== '' ? error.name : undefined;
  const code = typeof error.code === 'string' && error.code !== '' ? error.code : undefined;
  // Node's socket errors are plain `Error`s whose identity is in `code`.
  if (code !== undefined && (name === undefined || name === 'Error')) return code;
  return name ?? 'Error';
}

function isTransient(error: ErrorLike, depth = 0): boolean {
  if (error.name === 'AbortError') return false;
  if (error.$retryable !== undefined) return true;
  if (typeof error.name === 'string' && TRANSIENT_NAMES.has(error.name)) return true;
  if (typeof error.code === 'string' && TRANSIENT_CODES.has(error.code)) return true;
  if (TRANSIENT_STATUS.has(error.$metadata?.httpStatusCode ?? 0)) return true;
  // fetch and the SDK wrap socket errors ("fetch failed" → cause ECONNRESET).
  return (
    depth < 5 &&
    typeof error.cause === 'object' &&
    error.cause !== null &&
    isTransient(error.cause as ErrorLike, depth + 1)
  );
}

/**
 * Why a signal fired, as one line for a failed task's message: the reason the caller gave (the Lambda deadline
 * says "deadline: not finished 30 s before the function's timeout"), or a plain "aborted" when it gave none.
 */
export function abortReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) {
    // AbortController.abort() without an argument sets a DOMException "This operation was aborted".
    return reason.name === 'AbortError' ? 'aborted' : reason.message;
  }
  return reason === undefined ? 'aborted' : String(reason);
}

/** Sorts anything a backend threw into a {@link FanoutError}; a FanoutError passes through unchanged. */
export function classifyError(error: unknown): FanoutError {
  if (error instanceof FanoutError) return error;
  if (typeof error !== 'object' || error === null) {
    return new FanoutError('transport', typeof error, String(error), { retryable: false, cause: error });
  }
  const e = error as ErrorLike;
  const type = typeOf(e);
  const message = typeof e.message === 'string' && e.message !== '' ? e.message : type;
  const options = (retryable: boolean) => ({ retryable, cause: error });
  if (e.name === 'AbortError') return new FanoutError('aborted', type, message, options(false));
  if (typeof e.name === 'string' && PERMANENT_SERVER_NAMES.has(e.name))
    return new FanoutError('transport', type, message, options(false));
  if (
    e.$metadata?.httpStatusCode === 429 ||
    (typeof e.name === 'string' && THROTTLING_NAMES.has(e.name)) ||
    e.$retryable?.throttling === true
  ) {
    return new FanoutError('throttled', type, message, options(true));
  }
  // What is left and not known to be transient — 4xx validation errors (ResourceNotFoundException,
  // InvalidParameterValueException, AccessDeniedException), bugs in a backend — would fail again.
  return new FanoutError('transport', type, message, options(isTransient(e)));
}
