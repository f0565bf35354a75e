/**
 * A primes run's progress (lib/primes/run-progress.ts): the states the tracker reports as chunks finish — first
 * forced, counts from the chunks that came back, `done` or `failed` last — and a whole run on local worker threads
 * (runPrimes with a progress store) whose last state agrees with its result and with an independent count. Also the
 * caller's run id in the run's input: one safe key segment, the run-history rule.
 */
import { describe, expect, it } from 'vitest';
import type { ThrottledObjectWriter } from '../../../lib/aws/throttled-object.ts';
import type { Backend, ProgressEvent } from '../../../lib/fanout/index.ts';
import { parsePrimesRunInput } from '../../../lib/primes/run-input.ts';
import {
  type PrimesProgress,
  primesProgressKey,
  primesProgressSchema,
  trackPrimesProgress,
} from '../../../lib/primes/run-progress.ts';
import { runPrimes } from '../../../lib/primes/run.ts';
import type { PrimesChunkResult, PrimesTask } from '../../../lib/primes/worker.ts';

/** A writer that keeps every report (and whether it was forced) instead of writing it. */
function keepingWriter() {
  const reports: { value: PrimesProgress; force: boolean }[] = [];
  let flushed = 0;
  const writer: ThrottledObjectWriter<PrimesProgress> = {
    report: (value, options) => {
      reports.push({ value, force: options?.force ?? false });
    },
    settled: async () => undefined,
    flush: async () => {
      flushed += 1;
    },
    delete: async () => undefined,
  };
  return { writer, reports, flushes: () => flushed };
}

const chunks = [
  { start: 0, end: 100 },
  { start: 100, end: 200 },
  { start: 200, end: 250 },
];
const event = (kind: ProgressEvent['kind'], index: number, done: number): ProgressEvent => ({
  kind,
  index,
  attempt: 1,
  done,
  total: chunks.length,
});

describe('trackPrimesProgress', () => {
  it('reports the first state forced, then chunks done, failed and primes so far, and the last state forced', async () => {
    let clock = Date.parse('2026-12-03T14:00:00.000Z');
    const { writer, reports, flushes } = keepingWriter();
    const tracker = trackPrimesProgress(writer, {
      runId: 'run-1',
      start: 0,
      end: 250,
      backend: 'lambda',
      chunks,
      now: () => clock,
    });
    expect(reports).toEqual([
      {
        force: true,
        value: {
          runId: 'run-1',
          state: 'running',
          start: 0,
          end: 250,
          backend: 'lambda',
          startedAt: '2026-12-03T14:00:00.000Z',
          elapsedMs: 0,
          chunks: { total: 3, done: 0, failed: 0 },
          numbersCounted: 0,
          primes: 0,
        },
      },
    ]);
    // The backend the fan-out runs sees each chunk's count; [100, 200) has 21 primes.
    const inner: Backend<PrimesTask, PrimesChunkResult> = {
      name: 'fake',
      run: async (task) => ({ start: task.start, end: task.end, count: 21, ms: 1 }),
    };
    const backend = tracker.decorate(inner);
    await backend.run({ start: 100, end: 200 }, { index: 1, attempt: 1 });
    tracker.onProgress(event('started', 0, 0)); // not a change of what is shown
    clock += 700;
    tracker.onProgress(event('succeeded', 1, 1));
    clock += 300;
    tracker.onProgress(event('failed', 2, 2));
    expect(reports).toHaveLength(3);
    expect(reports.slice(1).map((r) => r.force)).toEqual([false, false]);
    expect(reports[1]!.value).toMatchObject({ elapsedMs: 700, chunks: { done: 1, failed: 0 }, primes: 21 });
    expect(reports[2]!.value).toMatchObject({
      elapsedMs: 1000,
      chunks: { total: 3, done: 2, failed: 1 },
      numbersCounted: 100,
      primes: 21,
    });
    // Each report is a copy: a later change does not rewrite what was reported.
    expect(reports[0]!.value.chunks.done).toBe(0);

    await tracker.finish('the deadline came');
    expect(reports.at(-1)).toMatchObject({ force: true, value: { state: 'failed', error: 'the deadline came' } });
    expect(flushes()).toBe(1);
    for (const { value } of reports) expect(primesProgressSchema.parse(value)).toEqual(value);
  });
});

describe('runPrimes with a progress store', () => {
  it('reports [0, 1e6) in 8 chunks on local threads: 78,498 primes, the last state done before the run returns', async () => {
    const stored: { runId: string; reports: PrimesProgress[]; flushed: boolean }[] = [];
    const result = await runPrimes(
      parsePrimesRunInput({ start: 0, end: 1_000_000, chunks: 8, backend: 'local', runId: 'my-run.1' }),
      { local: { threads: 2 } },
      {
        progress: (runId) => {
          const entry = { runId, reports: [] as PrimesProgress[], flushed: false };
          stored.push(entry);
          return {
            ...keepingWriter().writer,
            report: (value) => entry.reports.push(value),
            flush: async () => {
              entry.flushed = true;
            },
          };
        },
      },
    );
    expect(result.runId).toBe('my-run.1');
    expect(stored.map((s) => s.runId)).toEqual(['my-run.1']);
    const { reports, flushed } = stored[0]!;
    expect(flushed).toBe(true);
    // π(10⁶) = 78,498 (a known value, not this code's output).
    expect(reports.at(-1)).toMatchObject({
      state: 'done',
      chunks: { total: 8, done: 8, failed: 0 },
      numbersCounted: 1_000_000,
      primes: 78_498,
    });
    expect(result.count).toBe(78_498);
    const done = reports.map((r) => r.chunks.done);
    expect(done[0]).toBe(0);
    expect(done.some((d) => d > 0 && d < 8)).toBe(true);
    expect(done).toEqual([...done].sort((a, b) => a - b));
  });
});

describe('the run id a caller chooses', () => {
  it('is taken when it is one safe key segment', () => {
    for (const runId of ['20261203T143000Z-0123456789ab', 'my-run.1', 'A_b', 'x'.repeat(128)])
      expect(parsePrimesRunInput({ start: 0, end: 10, chunks: 1, runId }).runId).toBe(runId);
    expect(parsePrimesRunInput({ start: 0, end: 10, chunks: 1 }).runId).toBeUndefined();
    expect(primesProgressKey('my-run.1')).toBe('results/primes/my-run.1/progress.json');
  });

  it.each(['', '../x', 'a/b', '.hidden', '-x', 'a b', 'x'.repeat(129), 42])('refuses %j in words', (runId) => {
    expect(() => parsePrimesRunInput({ start: 0, end: 10, chunks: 1, runId })).toThrow(/runId/);
  });

  it('has no progress key for an unsafe id', () => {
    expect(() => primesProgressKey('../summary')).toThrow();
  });
});
