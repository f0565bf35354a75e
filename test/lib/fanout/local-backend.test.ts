/** The worker-thread backend with real threads running test/fixtures/fanout-task.ts through tsx. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  fanout,
  localBackend,
  type Backend,
  type FanoutResult,
  type ProgressEvent,
} from '../../../lib/fanout/index.ts';
import { UserError } from '../../../lib/errors.ts';

const TASKS = new URL('../../fixtures/fanout-task.ts', import.meta.url);
const scratch = mkdtempSync(path.join(tmpdir(), 'fanout-local-'));

type Span = { start: number; end: number; threadId: number };

const open: Backend<unknown, unknown>[] = [];
function backend<T, R>(exportName: string, threads = 2, module: URL | string = TASKS): Backend<T, R> {
  const created = localBackend<T, R>({ module, exportName, threads });
  open.push(created as Backend<unknown, unknown>);
  return created;
}

/** The values of a run that must have succeeded throughout; a failure fails the test with its message. */
function values<R>(result: FanoutResult<R>): [R, R, ...R[]] {
  const all = result.outcomes.map((o) => {
    if (!o.ok) throw new Error(`task ${o.index} failed: ${o.error.type}: ${o.error.message}`);
    return o.value;
  });
  if (all.length < 2) throw new Error('expected at least two outcomes');
  return all as [R, R, ...R[]];
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close?.()));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('local backend', () => {
  it('runs an async export on a reused pool of threads and returns results in task order', async () => {
    const tasks = Array.from({ length: 24 }, (_, i) => i);
    const result = await fanout(
      tasks,
      backend<number, { n: number; square: number; threadId: number }>('squareLater'),
      { concurrency: 6 },
    );
    expect(result.failed).toBe(0);
    expect(result.outcomes.map((o) => o.ok && o.value.square)).toEqual(tasks.map((n) => n * n));
    // Six tasks in flight, two threads: the backend queued the rest and reused its threads.
    const threads = new Set(result.outcomes.map((o) => o.ok && o.value.threadId));
    expect(threads.size).toBeLessThanOrEqual(2);
  });

  it('accepts the module as an absolute path', async () => {
    const result = await fanout(
      [3],
      backend<number, number>('square', 1, path.resolve('test/fixtures/fanout-task.ts')),
    );
    expect(result.outcomes[0]).toMatchObject({ ok: true, value: 9 });
  });

  it('maps an error thrown by the task to a function failure, not retried', async () => {
    const events: ProgressEvent[] = [];
    const result = await fanout([1, 2], backend<number, never>('fail'), { onProgress: (e) => events.push(e) });
    expect(result.outcomes).toEqual([
      {
        index: 0,
        ok: false,
        attempts: 1,
        ms: expect.any(Number),
        error: { kind: 'function', type: 'RangeError', message: 'no square for 1' },
      },
      {
        index: 1,
        ok: false,
        attempts: 1,
        ms: expect.any(Number),
        error: { kind: 'function', type: 'RangeError', message: 'no square for 2' },
      },
    ]);
    expect(events.some((e) => e.kind === 'retrying')).toBe(false);
  });

  it('replaces a thread that dies mid-task and retries the task on the new one', async () => {
    const marker = path.join(scratch, 'crashed-once');
    const events: ProgressEvent[] = [];
    const pool = backend<string, { threadId: number }>('crashOnce', 1);
    const result = await fanout([marker], pool, { baseDelayMs: 0, maxDelayMs: 0, onProgress: (e) => events.push(e) });
    expect(result.outcomes[0]).toMatchObject({ ok: true, attempts: 2 });
    expect(events.find((e) => e.kind === 'retrying')?.error).toMatchObject({
      kind: 'transport',
      type: 'WorkerExited',
      message: expect.stringContaining('code 1'),
    });
    // The thread that ran the retry is not the one that died.
    const died = Number(readFileSync(marker, 'utf8'));
    expect(result.outcomes[0]?.ok && result.outcomes[0].value.threadId).not.toBe(died);
  });

  it('fails a task that kills every thread it runs on once its retries are spent', async () => {
    const result = await fanout([undefined, undefined], backend<void, never>('crash', 1), {
      retries: 2,
      baseDelayMs: 0,
      maxDelayMs: 0,
    });
    expect(result.outcomes).toEqual(
      [0, 1].map((index) =>
        expect.objectContaining({
          index,
          ok: false,
          attempts: 3,
          error: expect.objectContaining({ kind: 'transport', type: 'WorkerExited' }),
        }),
      ),
    );
  });

  it('runs CPU-bound tasks on two threads at the same time', async () => {
    const pool = backend<number, Span>('spin', 2);
    // Start both threads first, so neither spin waits for a thread to boot.
    await fanout([0, 0], pool, { concurrency: 2 });
    const [a, b] = values(await fanout([300, 300], pool, { concurrency: 2 }));
    expect(a.threadId).not.toBe(b.threadId);
    // The two spans overlap: each started before the other ended.
    expect(a.start).toBeLessThan(b.end);
    expect(b.start).toBeLessThan(a.end);
  });

  it('queues tasks beyond its threads: on one thread they run one after another', async () => {
    const spans = values(await fanout([40, 40, 40, 40], backend<number, Span>('spin', 1), { concurrency: 4 }));
    const sorted = [...spans].sort((x, y) => x.start - y.start);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.start).toBeGreaterThanOrEqual(sorted[i - 1]!.end);
    expect(new Set(spans.map((s) => s.threadId)).size).toBe(1);
  });

  it('drops queued tasks on abort while the running one finishes', async () => {
    const controller = new AbortController();
    const events: ProgressEvent[] = [];
    const result = await fanout([150, 1, 1], backend<number, Span>('spin', 1), {
      concurrency: 3,
      signal: controller.signal,
      onProgress: (e) => {
        events.push(e);
        if (e.kind === 'started' && e.index === 2) controller.abort();
      },
    });
    expect(result.outcomes[0]).toMatchObject({ ok: true });
    expect(result.outcomes.slice(1).map((o) => !o.ok && o.error.kind)).toEqual(['aborted', 'aborted']);
  });

  it('reports a missing export the way Lambda reports a missing handler', async () => {
    const result = await fanout([1], backend('notAFunction', 1));
    expect(result.outcomes[0]).toMatchObject({
      ok: false,
      attempts: 1,
      error: { kind: 'function', type: 'HandlerNotFound', message: expect.stringContaining('"notAFunction"') },
    });
  });

  it('rejects a relative module path, a missing module and a bad thread count up front', () => {
    expect(() => localBackend({ module: 'test/fixtures/fanout-task.ts', exportName: 'square' })).toThrow(UserError);
    expect(() => localBackend({ module: 'test/fixtures/fanout-task.ts', exportName: 'square' })).toThrow(
      /absolute path or a file: URL/,
    );
    expect(() => localBackend({ module: path.join(scratch, 'nope.ts'), exportName: 'square' })).toThrow(
      /does not exist/,
    );
    expect(() => localBackend({ module: TASKS, exportName: 'square', threads: 0 })).toThrow(
      /threads must be a whole number/,
    );
    expect(() => localBackend({ module: new URL('https://example.com/x.ts'), exportName: 'square' })).toThrow(
      /file: URL/,
    );
  });

  it('fails tasks after close() instead of starting new threads', async () => {
    const pool = backend<number, number>('square', 1);
    await fanout([1], pool);
    await pool.close?.();
    const result = await fanout([2], pool);
    expect(result.outcomes[0]).toMatchObject({
      ok: false,
      attempts: 1,
      error: { kind: 'aborted', type: 'BackendClosed' },
    });
  });
});
