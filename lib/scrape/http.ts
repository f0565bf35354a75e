/**
 * The scraper's HTTP client: JSON GETs through one pool that bounds how many requests are in flight (p-queue),
 * retries what can succeed on a second try with exponential backoff and full jitter (p-retry), pauses the
 * whole pool when the API answers 429, and stops the whole run at once on an auth failure, at the deadline,
 * or when the caller's signal aborts.
 *
 * Every HTTP attempt is one p-queue task, so the concurrency bound counts requests on the wire; the backoff
 * sleeps between attempts happen outside the queue and hold no slot. `getJson` never throws for what the
 * server (or the network) did: it resolves with `{ok: false, kind, reason}`.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import pRetry, { AbortError, type Options as RetryOptions } from 'p-retry';

export type FailureKind =
  | 'not-found'
  | 'client-error'
  | 'server-error'
  | 'timeout'
  | 'network'
  | 'malformed'
  | 'auth'
  | 'deadline'
  | 'aborted';

export interface JsonFailure {
  ok: false;
  status?: number;
  kind: FailureKind;
  reason: string;
}

export type JsonResponse = { ok: true; status: number; body: unknown } | JsonFailure;

/** Why the pool stopped starting requests; every later `getJson` resolves with this kind at once. */
export interface PoolStop {
  kind: 'auth' | 'deadline' | 'aborted';
  reason: string;
}

/** Kinds that say nothing about the id asked for: the run stopped before the request could finish. */
export function isRunStop(kind: FailureKind): kind is PoolStop['kind'] {
  return kind === 'auth' || kind === 'deadline' || kind === 'aborted';
}

export interface RequestPoolOptions {
  /** Requests in flight at once. */
  concurrency: number;
  /** One attempt, headers and body included. */
  timeoutMs: number;
  /** Extra attempts after the first, for timeouts, network errors, 5xx and unparseable bodies. */
  retries: number;
  /** Backoff before retry n is uniform in [0, min(maxDelayMs, baseDelayMs · 2^n)) ("full jitter"). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Aborting it stops the run like the deadline does (kind 'aborted'). */
  signal?: AbortSignal;
  /** Epoch ms: no request starts after it, and requests still in flight are cut off (kind 'deadline'). */
  deadlineAt?: number;
  /** Clock for the deadline and Retry-After dates (tests). Default Date.now. */
  now?: () => number;
  /** Uniform [0, 1) for the jitter (tests). Default Math.random. */
  random?: () => number;
  /** Longest pause a Retry-After can impose. Default 60 s. */
  maxRetryAfterMs?: number;
}

export interface RequestPool {
  getJson(url: string, options?: { headers?: Record<string, string> }): Promise<JsonResponse>;
  /** HTTP attempts started. */
  readonly requests: number;
  /** Attempts after a request's first (after a failure or a 429). */
  readonly retries: number;
  readonly stopped: PoolStop | undefined;
  /** Cancels the pool's timers; call when the run is over. */
  close(): void;
}

/** Used when a 429 has no (readable) Retry-After. */
const DEFAULT_RETRY_AFTER_MS = 1000;
const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;
/**
 * 429s do not use up a request's retries (waiting them out is the point), but an API that answers nothing
 * else must not keep a request alive for ever.
 */
const MAX_RATE_LIMIT_WAITS_PER_REQUEST = 20;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One attempt's failure; `retryable` decides whether p-retry tries again. */
class AttemptFailed extends Error {
  constructor(
    readonly failure: JsonFailure,
    readonly retryable: boolean,
    readonly rateLimited = false,
  ) {
    super(failure.reason);
    this.name = 'AttemptFailed';
  }
}

/** The reason the stop signal aborts with, so whatever it interrupts ends up here. */
class PoolStopped extends Error {
  constructor(readonly stop: PoolStop) {
    super(stop.reason);
    this.name = 'PoolStopped';
  }
}

const stopFailure = (stop: PoolStop): JsonFailure => ({ ok: false, kind: stop.kind, reason: stop.reason });

/** Retry-After as milliseconds from `nowMs`: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * What an error body says, in a line: Yelp's `{error: {code, description}}`, Algolia's `{error: "…"}`,
 * an HTML page's <title>, or the start of the text.
 */
export function describeErrorBody(text: string): string {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === 'object' && body !== null && 'error' in body) {
      const error: unknown = body.error;
      if (typeof error === 'string') return error;
      if (typeof error === 'object' && error !== null) {
        const { code, description } = error as { code?: unknown; description?: unknown };
        return [code, description].filter((part) => typeof part === 'string' && part !== '').join(': ');
      }
    }
  } catch {
    // Not JSON: a gateway's HTML page or plain text.
  }
  const title = /<title>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();
  if (title) return title;
  return text.trim().slice(0, 200);
}

function httpReason(status: number, text: string): string {
  const detail = describeErrorBody(text);
  return detail === '' ? `HTTP ${status}` : `HTTP ${status}: ${detail}`;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch's "fetch failed" hides the useful part (ECONNREFUSED, ECONNRESET, …) in its cause.
  const cause: unknown = error.cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}

/** The run's stop, set once (auth failure, deadline, the caller's abort): aborting `signal` wakes everything waiting. */
interface RunStop {
  readonly signal: AbortSignal;
  readonly stopped: PoolStop | undefined;
  stop(reason: PoolStop): void;
  /** Throws (as final, for p-retry) once the run has stopped; checks the deadline against the clock first. */
  throwIfStopped(): void;
  close(): void;
}

function createRunStop(options: RequestPoolOptions, now: () => number): RunStop {
  // Aborted once, when the run stops: drops queued attempts, cuts in-flight ones, wakes backoff sleeps.
  const stopController = new AbortController();
  // Every queued attempt and backoff sleep listens to it; thousands of listeners are expected, not a leak.
  setMaxListeners(0, stopController.signal);
  let stopped: PoolStop | undefined;

  const stop = (reason: PoolStop): void => {
    if (stopped) return;
    stopped = reason;
    stopController.abort(new PoolStopped(reason));
  };

  // The deadline, by timer (cuts in-flight requests) and by check before each attempt (an injected clock).
  const msToDeadline = options.deadlineAt === undefined ? undefined : Math.max(0, options.deadlineAt - now());
  // setTimeout fires at once past 2^31-1 ms; a deadline that far away is left to the check before each attempt.
  const deadlineTimer =
    msToDeadline === undefined || msToDeadline > MAX_TIMER_MS
      ? undefined
      : setTimeout(() => stopAtDeadline(), msToDeadline);
  deadlineTimer?.unref();
  function stopAtDeadline(): void {
    stop({
      kind: 'deadline',
      reason: `the run's deadline (${new Date(options.deadlineAt ?? now()).toISOString()}) arrived`,
    });
  }
  const onCallerAbort = (): void => {
    const reason: unknown = options.signal?.reason;
    stop({
      kind: 'aborted',
      reason: `the run was stopped: ${reason instanceof Error ? reason.message : String(reason ?? 'aborted')}`,
    });
  };
  if (options.signal?.aborted) onCallerAbort();
  else options.signal?.addEventListener('abort', onCallerAbort, { once: true });

  return {
    signal: stopController.signal,
    get stopped() {
      return stopped;
    },
    stop,
    throwIfStopped() {
      if (options.deadlineAt !== undefined && now() >= options.deadlineAt) stopAtDeadline();
      if (stopped) throw new AbortError(new PoolStopped(stopped));
    },
    close() {
      clearTimeout(deadlineTimer);
      options.signal?.removeEventListener('abort', onCallerAbort);
    },
  };
}

/** A 429 pauses the queue until the latest Retry-After seen; requests already in flight finish normally. */
function createRateLimitPause(queue: PQueue, now: () => number): { pauseFor(waitMs: number): void; close(): void } {
  let resumeAt = 0;
  let resumeTimer: NodeJS.Timeout | undefined;
  return {
    pauseFor(waitMs) {
      const until = now() + waitMs;
      if (until <= resumeAt && queue.isPaused) return;
      resumeAt = until;
      queue.pause();
      clearTimeout(resumeTimer);
      resumeTimer = setTimeout(() => queue.start(), waitMs);
      resumeTimer.unref();
    },
    close() {
      clearTimeout(resumeTimer);
    },
  };
}

/**
 * What a complete answer means: its status and parsed body, or an AttemptFailed (wrapped in p-retry's AbortError
 * when another try would get the same answer). A 429 pauses the pool; a 401/403 stops the run.
 */
function readAnswer(
  status: number,
  text: string,
  retryAfter: string | null,
  {
    run,
    pause,
    maxRetryAfterMs,
    now,
  }: { run: RunStop; pause: (waitMs: number) => void; maxRetryAfterMs: number; now: () => number },
): { status: number; body: unknown } {
  if (status >= 200 && status < 300) {
    try {
      return { status, body: JSON.parse(text) as unknown };
    } catch {
      // A cut-off transfer or a proxy's HTML page under a 200: another try usually gets the real answer.
      const what =
        text === ''
          ? 'an empty body'
          : `${text.length} bytes that are not JSON (${JSON.stringify(text.slice(0, 40))}…)`;
      throw new AttemptFailed({ ok: false, status, kind: 'malformed', reason: `HTTP ${status} with ${what}` }, true);
    }
  }
  const failure = (kind: FailureKind): JsonFailure => ({ ok: false, status, kind, reason: httpReason(status, text) });
  if (status === 429) {
    const waitMs = Math.min(maxRetryAfterMs, parseRetryAfter(retryAfter, now()) ?? DEFAULT_RETRY_AFTER_MS);
    // Paused before this task settles, so the queue starts nothing else until the wait is over.
    pause(waitMs);
    throw new AttemptFailed(failure('client-error'), true, true);
  }
  if (status === 401 || status === 403) {
    const authFailure = failure('auth');
    run.stop({ kind: 'auth', reason: authFailure.reason });
    throw new AbortError(new AttemptFailed(authFailure, false));
  }
  if (status === 404) throw new AbortError(new AttemptFailed(failure('not-found'), false));
  if (status === 408) throw new AttemptFailed(failure('timeout'), true);
  if (status >= 500) throw new AttemptFailed(failure('server-error'), true);
  // Any other 4xx (or an unexpected 1xx/3xx) would be answered the same way again.
  throw new AbortError(new AttemptFailed(failure('client-error'), false));
}

/**
 * p-retry's options for one request: failures use up `retries` with full-jitter backoff between attempts, 429s do
 * not (up to MAX_RATE_LIMIT_WAITS_PER_REQUEST of them), and the run's stop ends the waiting.
 */
function retryPolicy(options: RequestPoolOptions, signal: AbortSignal, random: () => number): RetryOptions {
  let rateLimitWaits = 0;
  return {
    retries: options.retries,
    // p-retry's own delay is off (its `randomize` multiplies by 1..2, not full jitter): we sleep below.
    minTimeout: 0,
    signal,
    shouldConsumeRetry: ({ error }) =>
      !(error instanceof AttemptFailed && error.rateLimited) || ++rateLimitWaits > MAX_RATE_LIMIT_WAITS_PER_REQUEST,
    onFailedAttempt: async ({ error, retriesConsumed, retriesLeft }) => {
      // A 429 waits in the paused queue instead; the last failure needs no wait.
      if (!(error instanceof AttemptFailed) || error.rateLimited || retriesLeft <= 0) return;
      const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** retriesConsumed);
      await sleep(Math.floor(random() * ceiling), undefined, { signal });
    },
  };
}

export function createRequestPool(options: RequestPoolOptions): RequestPool {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
  const queue = new PQueue({ concurrency: options.concurrency });
  const run = createRunStop(options, now);
  const rateLimit = createRateLimitPause(queue, now);
  const answerContext = { run, pause: rateLimit.pauseFor, maxRetryAfterMs, now };
  let requests = 0;
  let retries = 0;

  /** One HTTP attempt, run inside the queue. Throws AttemptFailed (retryable or not) or PoolStopped. */
  const attempt = async (url: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> => {
    run.throwIfStopped();
    requests++;
    const timeout = AbortSignal.timeout(options.timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        headers: { accept: 'application/json', ...headers },
        signal: AbortSignal.any([timeout, run.signal]),
      });
      text = await response.text();
    } catch (error) {
      const stopped = run.stopped;
      if (stopped) throw new AbortError(new PoolStopped(stopped));
      if (timeout.aborted) {
        throw new AttemptFailed(
          { ok: false, kind: 'timeout', reason: `no complete answer within ${options.timeoutMs} ms` },
          true,
        );
      }
      throw new AttemptFailed({ ok: false, kind: 'network', reason: `network error: ${describeError(error)}` }, true);
    }
    return readAnswer(response.status, text, response.headers.get('retry-after'), answerContext);
  };

  const getJson = async (
    url: string,
    { headers = {} }: { headers?: Record<string, string> } = {},
  ): Promise<JsonResponse> => {
    if (run.stopped) return stopFailure(run.stopped);
    try {
      const { status, body } = await pRetry(
        (attemptNumber) => {
          if (attemptNumber > 1) retries++;
          // Retries go first: they finish ids already started, and a paused pool resumes with them.
          return queue.add(() => attempt(url, headers), { signal: run.signal, priority: attemptNumber > 1 ? 1 : 0 });
        },
        retryPolicy(options, run.signal, random),
      );
      return { ok: true, status, body };
    } catch (error) {
      if (error instanceof AttemptFailed) return error.failure;
      // The stop aborted a queued attempt or a backoff sleep; `stopped` was set meanwhile, in another task.
      if (error instanceof PoolStopped) return stopFailure(error.stop);
      const stop = run.stopped;
      if (stop !== undefined) return stopFailure(stop);
      throw error;
    }
  };

  return {
    getJson,
    get requests() {
      return requests;
    },
    get retries() {
      return retries;
    },
    get stopped() {
      return run.stopped;
    },
    close() {
      run.close();
      rateLimit.close();
    },
  };
}
