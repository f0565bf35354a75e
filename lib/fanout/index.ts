import { setTimeout as delay } from 'node:timers/promises';
import PQueue from 'p-queue';
import pRetry from 'p-retry';
import { z } from 'zod';
import { UserError } from '../errors.ts';
import type { InstanceUsage } from './cost.ts';
import { abortReason, classifyError, type FanoutError, type TaskError } from './errors.ts';
import type { AttemptRecord, FanoutTrace, RecordWorker, TaskRecord } from './trace.ts';

/**
 * `fanout(tasks, backend)`: run every task on a backend (Lambda invocations, worker threads, ...) with a
 * bounded number in flight, retry what a retry can fix, and hand back every task's outcome in task order —
 * the successes of a partly failed run included, each failure under its task's index. The pool is p-queue and the
 * attempt loop p-retry, as in lib/scrape/http.ts; the retry decision, the full-jitter backoff and the abort are ours.
 */

export { abortReason, classifyError, FanoutError, type FanoutErrorKind, type TaskError } from './errors.ts';
export { lambdaBackend, type LambdaBackendOptions } from './lambda-backend.ts';
export { localBackend, type LocalBackendOptions } from './local-backend.ts';
export type { AttemptRecord, FanoutTrace, RecordWorker, TaskRecord, WorkerFacts } from './trace.ts';

export interface ProgressEvent {
  kind: 'started' | 'succeeded' | 'retrying' | 'failed';
  index: number;
  /** 1 for the first attempt; 0 on a `failed` event for a task the abort kept from starting. */
  attempt: number;
  /** On `retrying` and `failed`. */
  error?: TaskError;
  /** On `retrying`: how long the task waits before its next attempt. */
  delayMs?: number;
  /** Tasks finished (succeeded or failed for good) so far. */
  done: number;
  total: number;
}

export interface FanoutOptions {
  /** Most tasks in flight at once: 1..1000, default 64. Lambda's default account concurrency is 1000. */
  concurrency?: number;
  /** Extra attempts per task for retryable failures (throttling, transient transport errors): 0..100, default 3. */
  retries?: number;
  /** Backoff base in ms, default 100. The wait before retry n (0-based) is random(0, min(maxDelayMs, baseDelayMs * 2^n)). */
  baseDelayMs?: number;
  /** Longest wait between two attempts of a task, default 5000; at least `baseDelayMs`. */
  maxDelayMs?: number;
  /**
   * Also retry failures of the task's own code (kind `function`), default false: deterministic code fails the
   * same way again, so a retry only costs time and money. Turn it on for workers with flaky dependencies.
   */
  retryFunctionErrors?: boolean;
  /** Called synchronously on every state change; it should not throw (if it does, a warning is emitted). */
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Stops the fan-out from starting tasks or retries; tasks not started fail with kind `aborted`. The signal
   * is handed to the backend, which decides whether running tasks finish or are abandoned.
   */
  signal?: AbortSignal;
  /** Source of the backoff's jitter in [0, 1), default Math.random: replaceable for tests and simulations. */
  random?: () => number;
  /** Waits between attempts, default a timer that the signal cancels: replaceable so tests never wait. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface TaskSuccess<R> {
  index: number;
  ok: true;
  value: R;
  attempts: number;
  /** From the first attempt's start to the success, backoff waits included. */
  ms: number;
}

export interface TaskFailure {
  index: number;
  ok: false;
  error: TaskError;
  /** 0 when the abort kept the task from starting. */
  attempts: number;
  ms: number;
}

export type TaskOutcome<R> = TaskSuccess<R> | TaskFailure;

export interface FanoutResult<R> {
  /** One per task, in task order. */
  outcomes: TaskOutcome<R>[];
  succeeded: number;
  failed: number;
  wallMs: number;
  /** Every attempt's span and the workers' own facts, for the run's timeline (./timeline.ts). */
  trace: FanoutTrace;
}

/** What `run` is told about the attempt it makes. */
export interface RunContext {
  index: number;
  attempt: number;
  signal?: AbortSignal;
  /**
   * Where the backend puts what the worker told of this attempt (its clock, a cold start, the instance): the
   * timeline's worker side. Optional, so that a backend written without it, and a caller of `run` outside a
   * fan-out, still work; a decorator passes the context on whole.
   */
  recordWorker?: RecordWorker;
}

/**
 * Where tasks run. `run` does one attempt of one task; it throws a {@link FanoutError} when it knows what
 * kind of failure it saw, anything else is classified by {@link classifyError}. The caller owns the backend:
 * `fanout` never closes it, so one backend can serve several fan-outs.
 */
export interface Backend<T, R> {
  name: string;
  run(task: T, context: RunContext): Promise<R>;
  close?(): Promise<void>;
  /** What a backend that launches instances metered so far, for the cost estimate (./cost.ts). */
  usage?(): InstanceUsage;
}

const optionsSchema = z
  .object({
    concurrency: z
      .number()
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(1000, 'must be at most 1000')
      .default(64),
    retries: z
      .number()
      .int('must be a whole number')
      .min(0, 'must be at least 0')
      .max(100, 'must be at most 100')
      .default(3),
    baseDelayMs: z
      .number()
      .min(0, 'must be at least 0')
      .max(3_600_000, 'must be at most 3600000 (an hour)')
      .default(100),
    maxDelayMs: z
      .number()
      .min(0, 'must be at least 0')
      .max(3_600_000, 'must be at most 3600000 (an hour)')
      .default(5000),
    retryFunctionErrors: z.boolean().default(false),
  })
  .superRefine((o, ctx) => {
    if (o.maxDelayMs < o.baseDelayMs)
      ctx.addIssue({
        code: 'custom',
        path: ['maxDelayMs'],
        message: `must be at least baseDelayMs (${o.baseDelayMs})`,
      });
  });

type Settings = z.infer<typeof optionsSchema> & {
  onProgress: ((event: ProgressEvent) => void) | undefined;
  signal: AbortSignal | undefined;
  random: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
};

function invalid(message: string): UserError {
  return new UserError('INVALID_OPTIONS', `Invalid fanout options: ${message}`);
}

function validate<T, R>(tasks: readonly T[], backend: Backend<T, R>, options: FanoutOptions): Settings {
  if (!Array.isArray(tasks)) throw invalid(`tasks must be an array (got ${typeof tasks})`);
  if (typeof backend?.run !== 'function') throw invalid('backend must have a run(task, context) method');
  const { onProgress, signal, random, sleep, ...numbers } = options;
  const parsed = optionsSchema.safeParse(numbers);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.');
      const value = (numbers as Record<string, unknown>)[name];
      // String() for numbers: JSON would print NaN and Infinity as null.
      const shown = typeof value === 'number' ? String(value) : JSON.stringify(value);
      return `${name}: ${issue.message}${value === undefined ? '' : ` (got ${shown})`}`;
    });
    throw invalid(problems.join('; '));
  }
  for (const [name, fn] of Object.entries({ onProgress, random, sleep })) {
    if (fn !== undefined && typeof fn !== 'function') throw invalid(`${name} must be a function`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal');
  return {
    ...parsed.data,
    onProgress,
    signal,
    random: random ?? Math.random,
    sleep: sleep ?? ((ms, s) => delay(ms, undefined, s === undefined ? undefined : { signal: s })),
  };
}

/**
 * "Full jitter" backoff: a uniformly random wait between 0 and an exponentially growing ceiling. Spreading
 * retries over the whole window is what keeps a throttled fan-out of hundreds of tasks from retrying in lockstep
 * and being throttled again. `retry` counts from 0 (the wait before the second attempt).
 */
export function backoffDelay(
  retry: number,
  options: { baseDelayMs: number; maxDelayMs: number; random: () => number },
): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** retry);
  return Math.min(ceiling, Math.max(0, Math.round(options.random() * ceiling)));
}

/** An attempt's failure, carried through p-retry to onFailedAttempt. */
class AttemptFailed extends Error {
  constructor(readonly fanoutError: FanoutError) {
    super(fanoutError.message);
  }
}

/** The task's final failure: p-retry passes it out of onFailedAttempt, runTask turns it into a TaskFailure. */
class TaskFailed extends Error {
  constructor(readonly taskError: TaskError) {
    super(taskError.message);
  }
}

function aborted(message: string): TaskError {
  return { kind: 'aborted', type: 'AbortError', message };
}

type Emit = (event: Omit<ProgressEvent, 'done' | 'total'>) => void;

/**
 * The retry decision after a failed attempt: throws TaskFailed when the task is done for (a failure a retry cannot
 * fix, no retries left, or the abort), otherwise announces the retry and waits out its backoff — an abort during
 * the wait fails the task with what this attempt saw.
 */
async function retryOrFail(
  failure: FanoutError,
  index: number,
  attempt: number,
  settings: Settings,
  emit: Emit,
): Promise<void> {
  const { signal } = settings;
  const retryable = failure.kind === 'function' ? settings.retryFunctionErrors : failure.retryable;
  if (!retryable || attempt > settings.retries || signal?.aborted) throw new TaskFailed(failure.toTaskError());
  const delayMs = backoffDelay(attempt - 1, settings);
  emit({ kind: 'retrying', index, attempt, error: failure.toTaskError(), delayMs });
  try {
    await settings.sleep(delayMs, signal);
  } catch (sleepError) {
    if (!signal?.aborted) throw sleepError;
  }
  if (signal?.aborted) {
    throw new TaskFailed(
      aborted(
        `${abortReason(signal)} while waiting to retry; attempt ${attempt} failed with ${failure.type}: ${failure.message}`,
      ),
    );
  }
}

/** One attempt on the backend, its span and the worker's facts recorded (./trace.ts) whatever it ends in. */
async function attemptRecorded<T, R>(
  backend: Backend<T, R>,
  task: T,
  { index, attempt, signal }: { index: number; attempt: number; signal: AbortSignal | undefined },
  into: TaskRecord,
): Promise<R> {
  // Date.now(), not performance.now(): the workers report epoch times, and the timeline compares the two.
  const record: AttemptRecord = { attempt, submittedAt: Date.now(), returnedAt: 0, outcome: 'failed' };
  into.attempts.push(record);
  const recordWorker: RecordWorker = (facts) => {
    record.worker = { ...record.worker, ...facts };
  };
  const context: RunContext = signal === undefined ? { index, attempt } : { index, attempt, signal };
  try {
    const value = await backend.run(task, { ...context, recordWorker });
    record.outcome = 'succeeded';
    return value;
  } catch (thrown) {
    const failure = classifyError(thrown);
    record.error = { kind: failure.kind, type: failure.type };
    throw new AttemptFailed(failure);
  } finally {
    record.returnedAt = Date.now();
  }
}

export async function fanout<T, R>(
  tasks: readonly T[],
  backend: Backend<T, R>,
  options: FanoutOptions = {},
): Promise<FanoutResult<R>> {
  const settings = validate(tasks, backend, options);
  const { signal } = settings;
  const total = tasks.length;
  const started = performance.now();
  let done = 0;
  let warned = false;

  const emit: Emit = (event) => {
    if (!settings.onProgress) return;
    try {
      settings.onProgress({ ...event, done, total });
    } catch (error) {
      // Progress is advisory: a broken progress bar must not lose the results of tasks already paid for.
      if (!warned)
        process.emitWarning(`fanout: onProgress threw and was ignored: ${(error as Error)?.message ?? String(error)}`);
      warned = true;
    }
  };

  const fail = (index: number, error: TaskError, attempts: number, since: number): TaskFailure => {
    done++;
    emit({ kind: 'failed', index, attempt: attempts, error });
    return { index, ok: false, error, attempts, ms: attempts === 0 ? 0 : performance.now() - since };
  };

  /**
   * One task, all of its attempts: p-retry counts them; the decision to retry and the wait before it are ours
   * (onFailedAttempt), because the backoff is full jitter with an injectable clock and random source, and an abort
   * while waiting fails the task with what its last attempt saw. p-retry's own delay is off (`minTimeout: 0`).
   */
  const records: TaskRecord[] = Array.from({ length: total }, (_, index) => ({ index, attempts: [] }));
  const startedAt = Date.now();

  const runTask = async (index: number): Promise<TaskOutcome<R>> => {
    const since = performance.now();
    if (signal?.aborted) return fail(index, aborted(`not started: ${abortReason(signal)}`), 0, since);
    // Tasks are read by index so that outcomes line up with them; a hole in a sparse array is passed on as is.
    const task = tasks[index] as T;
    let attempts = 0;
    try {
      const value = await pRetry(
        async (attempt) => {
          attempts = attempt;
          emit({ kind: 'started', index, attempt });
          return attemptRecorded(backend, task, { index, attempt, signal }, records[index]!);
        },
        {
          retries: settings.retries,
          minTimeout: 0,
          onFailedAttempt: async ({ error, attemptNumber: attempt }) => {
            if (!(error instanceof AttemptFailed)) throw error;
            await retryOrFail(error.fanoutError, index, attempt, settings, emit);
          },
        },
      );
      done++;
      emit({ kind: 'succeeded', index, attempt: attempts });
      return { index, ok: true, value, attempts, ms: performance.now() - since };
    } catch (error) {
      if (error instanceof TaskFailed) return fail(index, error.taskError, attempts, since);
      throw error; // a sleep that failed for another reason than the abort: the caller's bug, not the task's
    }
  };

  // One p-queue job per task, its retries included: never more than `concurrency` tasks in flight (a task waiting
  // to retry keeps its place), started in task order, and no task waits while a place is free.
  const queue = new PQueue({ concurrency: settings.concurrency });
  const outcomes = await Promise.all(Array.from({ length: total }, (_, index) => queue.add(() => runTask(index))));

  const succeeded = outcomes.filter((o) => o.ok).length;
  const trace: FanoutTrace = { backend: backend.name, startedAt, endedAt: Date.now(), tasks: records };
  return { outcomes, succeeded, failed: total - succeeded, wallMs: performance.now() - started, trace };
}
