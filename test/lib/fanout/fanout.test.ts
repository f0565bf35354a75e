/** The fan-out core against fake backends: no threads, no network, and no real waiting (sleep is injected). */
import { describe, expect, it, vi } from 'vitest';
import {
  backoffDelay,
  classifyError,
  fanout,
  FanoutError,
  type Backend,
  type FanoutOptions,
  type ProgressEvent,
} from '../../../lib/fanout/index.ts';
import { UserError } from '../../../lib/errors.ts';

type Run<T, R> = Backend<T, R>['run'];

function backend<T, R>(run: Run<T, R>): Backend<T, R> & { calls: { task: T; index: number; attempt: number }[] } {
  const calls: { task: T; index: number; attempt: number }[] = [];
  return {
    name: 'fake',
    calls,
    run(task, context) {
      calls.push({ task, index: context.index, attempt: context.attempt });
      return run(task, context);
    },
  };
}

/** Lets other lanes run: a macrotask, so tasks genuinely interleave and finish out of order. */
const tick = (turns: number) => new Promise<void>((resolve) => setTimeout(resolve, turns));

const noWait = { sleep: async () => {} } satisfies FanoutOptions;

/** An error shaped like what the AWS SDK throws. */
function sdkError(name: string, status: number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status }, ...extra });
}

function failTimes(times: number, error: () => unknown): Run<number, number> {
  const seen = new Map<number, number>();
  return async (n) => {
    const count = (seen.get(n) ?? 0) + 1;
    seen.set(n, count);
    if (count <= times) throw error();
    return n * 10;
  };
}

describe('fanout: results', () => {
  it('returns one outcome per task, in task order, though tasks finish out of order', async () => {
    const tasks = Array.from({ length: 50 }, (_, i) => i);
    const result = await fanout(
      tasks,
      backend(async (n: number) => {
        await tick((n * 7) % 5);
        return `value ${n}`;
      }),
      { concurrency: 8 },
    );
    expect(result.outcomes.map((o) => o.index)).toEqual(tasks);
    expect(result.outcomes.map((o) => (o.ok ? o.value : null))).toEqual(tasks.map((n) => `value ${n}`));
    expect(result).toMatchObject({ succeeded: 50, failed: 0 });
    expect(result.outcomes.every((o) => o.attempts === 1 && o.ms >= 0)).toBe(true);
    expect(result.wallMs).toBeGreaterThanOrEqual(0);
  });

  it('answers an empty task list without calling the backend', async () => {
    const fake = backend(async () => 1);
    expect(await fanout([], fake)).toMatchObject({ outcomes: [], succeeded: 0, failed: 0 });
    expect(fake.calls).toEqual([]);
  });

  it('keeps every success of a partly failed run and names each failed task', async () => {
    const result = await fanout(
      ['a', 'b', 'c', 'd', 'e'],
      backend(async (s: string) => {
        if (s === 'b') throw new FanoutError('function', 'TypeError', 'b is not a number');
        if (s === 'd') throw sdkError('ResourceNotFoundException', 404);
        return s.toUpperCase();
      }),
      noWait,
    );
    expect(result).toMatchObject({ succeeded: 3, failed: 2 });
    const succeeded = (index: number, value: string) => expect.objectContaining({ index, ok: true, value });
    const failedOnce = (index: number, kind: string, type: string, message: string) =>
      expect.objectContaining({ index, ok: false, attempts: 1, error: { kind, type, message } });
    expect(result.outcomes).toEqual([
      succeeded(0, 'A'),
      failedOnce(1, 'function', 'TypeError', 'b is not a number'),
      succeeded(2, 'C'),
      failedOnce(3, 'transport', 'ResourceNotFoundException', 'ResourceNotFoundException happened'),
      succeeded(4, 'E'),
    ]);
  });

  it("passes index, attempt, signal and the attempt's recorder to the backend", async () => {
    const controller = new AbortController();
    const contexts: unknown[] = [];
    await fanout(
      ['x', 'y'],
      backend(async (_task: string, context) => contexts.push(context)),
      { signal: controller.signal, concurrency: 1 },
    );
    expect(contexts).toEqual([
      { index: 0, attempt: 1, signal: controller.signal, recordWorker: expect.any(Function) },
      { index: 1, attempt: 1, signal: controller.signal, recordWorker: expect.any(Function) },
    ]);
  });
});

describe('fanout: concurrency', () => {
  it.each([1, 3, 16, 64])('never has more than %i tasks in flight, and uses all of them', async (concurrency) => {
    let inFlight = 0;
    let peak = 0;
    const result = await fanout(
      Array.from({ length: 150 }, (_, i) => i),
      backend(async (n: number) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await tick(n % 3);
        inFlight--;
        return n;
      }),
      { concurrency },
    );
    expect(result.succeeded).toBe(150);
    expect(peak).toBe(concurrency);
  });

  it('counts retries and backoff waits against the bound', async () => {
    let inFlight = 0;
    let peak = 0;
    const flaky = failTimes(2, () => sdkError('TooManyRequestsException', 429));
    await fanout(
      Array.from({ length: 40 }, (_, i) => i),
      backend(async (n: number, context) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        try {
          await tick(1);
          return await flaky(n, context);
        } finally {
          inFlight--;
        }
      }),
      { concurrency: 5, sleep: () => tick(1) },
    );
    expect(peak).toBeLessThanOrEqual(5);
  });
});

describe('fanout: retries', () => {
  it.each([
    ['Lambda throttling', () => sdkError('TooManyRequestsException', 429), 'throttled'],
    ['an HTTP 429', () => sdkError('SomethingElse', 429), 'throttled'],
    ['ThrottlingException', () => sdkError('ThrottlingException', 400), 'throttled'],
    ['a reset connection', () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'transport'],
    ['a timed-out connection', () => Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }), 'transport'],
    ["Lambda's ServiceException", () => sdkError('ServiceException', 500), 'transport'],
    ['a 503', () => sdkError('ServiceUnavailable', 503), 'transport'],
    ['EC2ThrottledException', () => sdkError('EC2ThrottledException', 502), 'throttled'],
    [
      'a retryable FanoutError',
      () => new FanoutError('transport', 'WorkerExited', 'gone', { retryable: true }),
      'transport',
    ],
  ])('retries %s with backoff, then succeeds', async (_label, error, kind) => {
    const events: ProgressEvent[] = [];
    const sleeps: number[] = [];
    const fake = backend(failTimes(2, error));
    const result = await fanout([7], fake, {
      random: () => 0.5,
      sleep: async (ms) => void sleeps.push(ms),
      onProgress: (e) => events.push(e),
    });
    expect(result.outcomes[0]).toMatchObject({ ok: true, value: 70, attempts: 3 });
    expect(fake.calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(sleeps).toEqual([50, 100]);
    expect(events.filter((e) => e.kind === 'retrying').map((e) => e.error?.kind)).toEqual([kind, kind]);
  });

  it('gives up after `retries` extra attempts and reports the last error', async () => {
    const fake = backend(failTimes(Infinity, () => sdkError('TooManyRequestsException', 429)));
    const result = await fanout([1], fake, { ...noWait, retries: 2 });
    expect(result.outcomes[0]).toMatchObject({
      ok: false,
      attempts: 3,
      error: { kind: 'throttled', type: 'TooManyRequestsException' },
    });
    expect(fake.calls).toHaveLength(3);
  });

  it('does not retry at all with retries: 0', async () => {
    const fake = backend(failTimes(Infinity, () => sdkError('ServiceException', 500)));
    const result = await fanout([1], fake, { ...noWait, retries: 0 });
    expect(result.outcomes[0]).toMatchObject({ ok: false, attempts: 1 });
  });

  it.each([
    ['ResourceNotFoundException', () => sdkError('ResourceNotFoundException', 404)],
    ['InvalidParameterValueException', () => sdkError('InvalidParameterValueException', 400)],
    ['AccessDeniedException', () => sdkError('AccessDeniedException', 403)],
    ['a Lambda 5xx caused by configuration', () => sdkError('KMSAccessDeniedException', 502)],
    ['an unrecognized error', () => new Error('something unexpected')],
    ['a thrown string', () => 'just a string'],
    ['an abort', () => Object.assign(new Error('aborted'), { name: 'AbortError' })],
  ])('does not retry %s', async (_label, error) => {
    const fake = backend(failTimes(Infinity, error));
    const result = await fanout([1], fake, noWait);
    expect(result.outcomes[0]).toMatchObject({ ok: false, attempts: 1 });
    expect(fake.calls).toHaveLength(1);
  });

  it('does not retry function errors by default', async () => {
    const fake = backend(failTimes(1, () => new FanoutError('function', 'Error', 'worker threw')));
    const result = await fanout([1], fake, noWait);
    expect(result.outcomes[0]).toMatchObject({
      ok: false,
      attempts: 1,
      error: { kind: 'function', type: 'Error', message: 'worker threw' },
    });
  });

  it('retries function errors with retryFunctionErrors', async () => {
    const fake = backend(failTimes(1, () => new FanoutError('function', 'Error', 'flaky dependency')));
    const result = await fanout([1], fake, { ...noWait, retryFunctionErrors: true });
    expect(result.outcomes[0]).toMatchObject({ ok: true, value: 10, attempts: 2 });
  });
});

describe('fanout: backoff with full jitter', () => {
  const settings = { baseDelayMs: 100, maxDelayMs: 5000 };

  it('draws each wait between 0 and min(maxDelayMs, baseDelayMs * 2^retry)', () => {
    const ceilings = [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000];
    ceilings.forEach((ceiling, retry) => {
      expect(backoffDelay(retry, { ...settings, random: () => 0 })).toBe(0);
      expect(backoffDelay(retry, { ...settings, random: () => 0.25 })).toBe(Math.round(ceiling / 4));
      expect(backoffDelay(retry, { ...settings, random: () => 1 - Number.EPSILON })).toBe(ceiling);
    });
  });

  it('stays within bounds for any random draw, even a huge retry count', () => {
    const draw = (() => {
      let x = 0.123;
      return () => (x = (x * 9301 + 0.49297) % 1);
    })();
    for (let retry = 0; retry < 2000; retry++) {
      const wait = backoffDelay(retry % 100, { ...settings, random: draw });
      expect(wait).toBeGreaterThanOrEqual(0);
      expect(wait).toBeLessThanOrEqual(Math.min(5000, 100 * 2 ** (retry % 100)));
    }
  });

  it('waits the jittered delays between the attempts of a task', async () => {
    const sleeps: number[] = [];
    const fake = backend(failTimes(Infinity, () => sdkError('TooManyRequestsException', 429)));
    await fanout([1], fake, {
      retries: 5,
      baseDelayMs: 10,
      maxDelayMs: 100,
      random: () => 0.999999,
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect(sleeps).toEqual([10, 20, 40, 80, 100]);
  });

  it('sleeps for real with the default sleep (zero delays keep the test fast)', async () => {
    const fake = backend(failTimes(1, () => sdkError('TooManyRequestsException', 429)));
    const result = await fanout([1], fake, { baseDelayMs: 0, maxDelayMs: 0 });
    expect(result.outcomes[0]).toMatchObject({ ok: true, attempts: 2 });
  });
});

describe('fanout: abort', () => {
  it('stops starting tasks; running ones finish; the rest fail as aborted without an attempt', async () => {
    const controller = new AbortController();
    const fake = backend(async (n: number) => {
      if (n === 2) controller.abort();
      await tick(1);
      return n;
    });
    const result = await fanout([0, 1, 2, 3, 4, 5, 6, 7], fake, { concurrency: 3, signal: controller.signal });
    // Tasks 0-2 were running when task 2 aborted; nothing after them started.
    expect(fake.calls.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(result.outcomes.slice(0, 3)).toEqual([0, 1, 2].map((n) => expect.objectContaining({ ok: true, value: n })));
    expect(result.outcomes.slice(3)).toEqual(
      [3, 4, 5, 6, 7].map((index) => ({
        index,
        ok: false,
        attempts: 0,
        ms: 0,
        error: { kind: 'aborted', type: 'AbortError', message: expect.any(String) },
      })),
    );
    expect(result).toMatchObject({ succeeded: 3, failed: 5 });
  });

  it('never calls the backend when the signal is already aborted', async () => {
    const fake = backend(async () => 1);
    const result = await fanout([1, 2, 3], fake, { signal: AbortSignal.abort() });
    expect(fake.calls).toEqual([]);
    expect(result.outcomes.map((o) => !o.ok && o.error.kind)).toEqual(['aborted', 'aborted', 'aborted']);
  });

  it('stops retrying when aborted during a backoff wait, keeping the last error in the message', async () => {
    const controller = new AbortController();
    const fake = backend(failTimes(Infinity, () => sdkError('TooManyRequestsException', 429)));
    const result = await fanout([1], fake, {
      signal: controller.signal,
      sleep: async () => controller.abort(),
    });
    expect(fake.calls).toHaveLength(1);
    expect(result.outcomes[0]).toMatchObject({
      ok: false,
      attempts: 1,
      error: { kind: 'aborted', message: expect.stringContaining('TooManyRequestsException') },
    });
  });

  it('cancels a real backoff timer on abort', async () => {
    const controller = new AbortController();
    const fake = backend(async () => {
      setTimeout(() => controller.abort(), 1);
      throw sdkError('TooManyRequestsException', 429);
    });
    // An hour-long wait: only the abort can end this test in time.
    const result = await fanout([1], fake, {
      signal: controller.signal,
      baseDelayMs: 3_600_000,
      maxDelayMs: 3_600_000,
      random: () => 0.99,
    });
    expect(result.outcomes[0]).toMatchObject({ ok: false, attempts: 1, error: { kind: 'aborted' } });
  });
});

describe('fanout: progress events', () => {
  it('reports start, retry and end of every task, with done counting up to total', async () => {
    const events: ProgressEvent[] = [];
    const fake = backend(async (n: number, { attempt }) => {
      if (n === 1 && attempt === 1) throw sdkError('TooManyRequestsException', 429);
      if (n === 2) throw new FanoutError('function', 'Error', 'boom');
      return n;
    });
    await fanout([0, 1, 2], fake, { concurrency: 1, random: () => 0, ...noWait, onProgress: (e) => events.push(e) });
    expect(events).toEqual([
      { kind: 'started', index: 0, attempt: 1, done: 0, total: 3 },
      { kind: 'succeeded', index: 0, attempt: 1, done: 1, total: 3 },
      { kind: 'started', index: 1, attempt: 1, done: 1, total: 3 },
      {
        kind: 'retrying',
        index: 1,
        attempt: 1,
        delayMs: 0,
        error: { kind: 'throttled', type: 'TooManyRequestsException', message: 'TooManyRequestsException happened' },
        done: 1,
        total: 3,
      },
      { kind: 'started', index: 1, attempt: 2, done: 1, total: 3 },
      { kind: 'succeeded', index: 1, attempt: 2, done: 2, total: 3 },
      { kind: 'started', index: 2, attempt: 1, done: 2, total: 3 },
      {
        kind: 'failed',
        index: 2,
        attempt: 1,
        error: { kind: 'function', type: 'Error', message: 'boom' },
        done: 3,
        total: 3,
      },
    ]);
  });

  it('ends every task with exactly one succeeded or failed event, aborted ones included', async () => {
    const controller = new AbortController();
    const events: ProgressEvent[] = [];
    await fanout(
      Array.from({ length: 30 }, (_, i) => i),
      backend(async (n: number) => {
        if (n === 10) controller.abort();
        if (n % 4 === 0) throw new Error('no');
        return n;
      }),
      { concurrency: 4, signal: controller.signal, onProgress: (e) => events.push(e) },
    );
    const ends = events.filter((e) => e.kind === 'succeeded' || e.kind === 'failed');
    expect(ends.map((e) => e.index).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(ends.map((e) => e.done)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('keeps running when onProgress throws, and warns once', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const result = await fanout(
        [1, 2, 3],
        backend(async (n: number) => n),
        {
          onProgress: () => {
            throw new Error('progress bar broke');
          },
        },
      );
      expect(result.succeeded).toBe(3);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toMatch(/progress bar broke/);
    } finally {
      warn.mockRestore();
    }
  });
});

describe('fanout: option validation', () => {
  const fake = backend(async () => 1);
  it.each([
    [{ concurrency: 0 }, /concurrency: must be at least 1 \(got 0\)/],
    [{ concurrency: 1001 }, /concurrency: must be at most 1000 \(got 1001\)/],
    [{ concurrency: 2.5 }, /concurrency: must be a whole number/],
    [{ concurrency: Number.NaN }, /concurrency: .*\(got NaN\)/],
    [{ retries: -1 }, /retries: must be at least 0/],
    [{ retries: 1.5 }, /retries: must be a whole number/],
    [{ baseDelayMs: -5 }, /baseDelayMs: must be at least 0/],
    [{ maxDelayMs: Infinity }, /maxDelayMs/],
    [{ baseDelayMs: 500, maxDelayMs: 100 }, /maxDelayMs: must be at least baseDelayMs \(500\) \(got 100\)/],
    [{ baseDelayMs: 10_000 }, /maxDelayMs: must be at least baseDelayMs \(10000\)$/],
    [{ retryFunctionErrors: 'yes' }, /retryFunctionErrors/],
    [{ onProgress: 'log' }, /onProgress must be a function/],
    [{ signal: { aborted: false } }, /signal must be an AbortSignal/],
  ])('rejects %o', async (options, message) => {
    // Deliberately ill-typed, as options parsed from JSON or a CLI can be.
    const error = await fanout([1], fake, options as unknown as FanoutOptions).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringMatching(message) });
  });

  it('names every problem at once', async () => {
    await expect(fanout([1], fake, { concurrency: 0, retries: -1 })).rejects.toThrow(/concurrency: .*; retries: /);
  });

  it('rejects tasks that are not an array and a backend without run()', async () => {
    await expect(fanout('abc' as unknown as string[], fake)).rejects.toThrow(/tasks must be an array/);
    await expect(fanout([1], {} as Backend<number, number>)).rejects.toThrow(/backend must have a run/);
  });

  it('accepts the documented bounds', async () => {
    await expect(
      fanout([1], fake, { concurrency: 1, retries: 0, baseDelayMs: 0, maxDelayMs: 0 }),
    ).resolves.toMatchObject({ succeeded: 1 });
    await expect(fanout([1], fake, { concurrency: 1000, retries: 100 })).resolves.toMatchObject({ succeeded: 1 });
  });
});

describe('classifyError', () => {
  it.each([
    [sdkError('TooManyRequestsException', 429), 'throttled', 'TooManyRequestsException', true],
    [
      Object.assign(new Error('slow'), { name: 'Whatever', $retryable: { throttling: true } }),
      'throttled',
      'Whatever',
      true,
    ],
    [Object.assign(new Error('reset'), { code: 'ECONNRESET' }), 'transport', 'ECONNRESET', true],
    [
      new Error('fetch failed', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) }),
      'transport',
      'Error',
      true,
    ],
    [Object.assign(new Error('x'), { name: 'TimeoutError' }), 'transport', 'TimeoutError', true],
    [Object.assign(new Error('x'), { name: 'Odd', $retryable: {} }), 'transport', 'Odd', true],
    [sdkError('ServiceException', 500), 'transport', 'ServiceException', true],
    [sdkError('ResourceConflictException', 409), 'transport', 'ResourceConflictException', true],
    [sdkError('InvalidZipFileException', 502), 'transport', 'InvalidZipFileException', false],
    [sdkError('ResourceNotFoundException', 404), 'transport', 'ResourceNotFoundException', false],
    [sdkError('RequestTooLargeException', 413), 'transport', 'RequestTooLargeException', false],
    [new TypeError('bug'), 'transport', 'TypeError', false],
    [Object.assign(new Error('stop'), { name: 'AbortError' }), 'aborted', 'AbortError', false],
    [42, 'transport', 'number', false],
  ])('%s → %s %s (retryable %s)', (error, kind, type, retryable) => {
    expect(classifyError(error)).toMatchObject({ kind, type, retryable });
  });

  it('passes FanoutErrors through and never marks function or aborted errors retryable', () => {
    const own = new FanoutError('transport', 'X', 'y', { retryable: true });
    expect(classifyError(own)).toBe(own);
    expect(new FanoutError('function', 'E', 'm', { retryable: true }).retryable).toBe(false);
    expect(new FanoutError('aborted', 'E', 'm', { retryable: true }).retryable).toBe(false);
    expect(new FanoutError('throttled', 'E', 'm').retryable).toBe(true);
    expect(new FanoutError('function', 'E', 'm').toTaskError()).toEqual({ kind: 'function', type: 'E', message: 'm' });
  });
});

describe('fanout: trace (the timeline’s data)', () => {
  it('records every attempt’s span on the coordinator clock, its outcome and what the backend says of the worker', async () => {
    const before = Date.now();
    const result = await fanout(
      [0, 1],
      backend(async (n: number, { attempt, recordWorker }) => {
        await tick(2);
        recordWorker?.({ workerId: `w${n}`, coldStart: attempt === 1 });
        if (n === 1 && attempt === 1) throw sdkError('TooManyRequestsException', 429);
        recordWorker?.({ startedAt: 5, endedAt: 6 });
        return n;
      }),
      noWait,
    );
    const after = Date.now();
    const { trace } = result;
    expect(trace.backend).toBe('fake');
    expect(trace.startedAt).toBeGreaterThanOrEqual(before);
    expect(trace.endedAt).toBeLessThanOrEqual(after);
    expect(trace.tasks.map((t) => t.attempts.map((a) => [a.attempt, a.outcome, a.error?.type]))).toEqual([
      [[1, 'succeeded', undefined]],
      [
        [1, 'failed', 'TooManyRequestsException'],
        [2, 'succeeded', undefined],
      ],
    ]);
    // Facts given in two calls are merged; a failed attempt keeps those it got before failing.
    expect(trace.tasks[0]!.attempts[0]!.worker).toEqual({ workerId: 'w0', coldStart: true, startedAt: 5, endedAt: 6 });
    expect(trace.tasks[1]!.attempts[0]!.worker).toEqual({ workerId: 'w1', coldStart: true });
    expect(trace.tasks[1]!.attempts[0]!.error).toEqual({ kind: 'throttled', type: 'TooManyRequestsException' });
    for (const a of trace.tasks.flatMap((t) => t.attempts)) {
      expect(a.submittedAt).toBeGreaterThanOrEqual(trace.startedAt);
      expect(a.returnedAt).toBeGreaterThanOrEqual(a.submittedAt);
      expect(a.returnedAt).toBeLessThanOrEqual(trace.endedAt);
    }
    const [first, second] = trace.tasks[1]!.attempts;
    expect(second!.submittedAt).toBeGreaterThanOrEqual(first!.returnedAt);
  });

  it('records no attempt for a task the abort kept from starting', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    const result = await fanout(
      [1, 2],
      backend(async (n: number) => n),
      { signal: controller.signal },
    );
    expect(result.trace.tasks).toEqual([
      { index: 0, attempts: [] },
      { index: 1, attempts: [] },
    ]);
  });
});
