import { describe, expect, it } from 'vitest';
import { buildTimeline, concurrencyCurve, estimateOffsets } from '../../../lib/fanout/timeline.ts';
import { type AttemptRecord, type FanoutTrace, mergeTraces } from '../../../lib/fanout/trace.ts';

const T0 = 1_800_000_000_000;

/** An attempt on the coordinator's clock (ms after T0), with the worker's own clock as given. */
function attempt(
  n: number,
  submitted: number,
  returned: number,
  worker?: AttemptRecord['worker'],
  outcome: AttemptRecord['outcome'] = 'succeeded',
): AttemptRecord {
  return {
    attempt: n,
    submittedAt: T0 + submitted,
    returnedAt: T0 + returned,
    outcome,
    ...(worker ? { worker } : {}),
  };
}

function trace(tasks: AttemptRecord[][], wall = 1000): FanoutTrace {
  return {
    backend: 'test',
    startedAt: T0,
    endedAt: T0 + wall,
    tasks: tasks.map((attempts, index) => ({ index, attempts })),
  };
}

describe('timeline: clock offsets', () => {
  it('takes the middle of [ended − returned, started − submitted] for a lone attempt (NTP with equal delays)', () => {
    // The worker's clock is 5 s ahead; the request took 10 ms, the reply 30 ms: θ ∈ [5000 − 30, 5000 + 10].
    const t = trace([[attempt(1, 100, 240, { startedAt: T0 + 5110, endedAt: T0 + 5210 })]]);
    expect(estimateOffsets(t).get('0/1')).toBe(4990);
    const [a] = buildTimeline(t).tasks[0]!.attempts;
    expect(a).toMatchObject({ submittedMs: 100, returnedMs: 240, startedMs: 120, endedMs: 220, offsetMs: 4990 });
  });

  it('narrows one worker’s offset with every attempt it served', () => {
    // Same worker (clock 1000 ms behind). Attempt 1 allows θ ∈ [−1100, −980], attempt 2 θ ∈ [−1020, −990]:
    // together [−1020, −990], middle −1005.
    const w = { workerId: 'c1' };
    const t = trace([
      [attempt(1, 0, 200, { ...w, startedAt: T0 - 980, endedAt: T0 - 900 })],
      [attempt(1, 300, 400, { ...w, startedAt: T0 - 690, endedAt: T0 - 620 })],
    ]);
    const offsets = estimateOffsets(t);
    expect(offsets.get('0/1')).toBe(-1005);
    expect(offsets.get('1/1')).toBe(-1005);
    expect(buildTimeline(t).workers).toEqual([{ id: 'c1', attempts: 2, offsetMs: -1005, coldStarts: 0 }]);
  });

  it('falls back to each attempt’s own interval when a worker’s intervals do not meet, and keeps bars inside their window', () => {
    const w = { workerId: 'drifting' };
    const t = trace([
      [attempt(1, 0, 100, { ...w, startedAt: T0 + 10, endedAt: T0 + 90 })], // θ ∈ [−10, 10]
      [attempt(1, 200, 300, { ...w, startedAt: T0 + 710, endedAt: T0 + 790 })], // θ ∈ [490, 510]
    ]);
    const offsets = estimateOffsets(t);
    expect(offsets.get('0/1')).toBe(0);
    expect(offsets.get('1/1')).toBe(500);
    // A worker that measured longer than the round trip: the span is clamped into [submitted, returned].
    const long = buildTimeline(trace([[attempt(1, 50, 80, { startedAt: T0 + 0, endedAt: T0 + 200 })]]));
    const [a] = long.tasks[0]!.attempts;
    expect(a!.startedMs).toBeGreaterThanOrEqual(50);
    expect(a!.endedMs).toBeLessThanOrEqual(80);
    expect(a!.endedMs).toBeGreaterThanOrEqual(a!.startedMs!);
  });

  it('leaves the worker times out when the worker sent no clock (a Lambda invocation that threw)', () => {
    const t = buildTimeline(
      trace([[attempt(1, 0, 50, undefined, 'failed'), attempt(2, 80, 150, { startedAt: T0 + 90, endedAt: T0 + 140 })]]),
    );
    const [first, second] = t.tasks[0]!.attempts;
    expect(first).toEqual({ task: 0, attempt: 1, outcome: 'failed', submittedMs: 0, returnedMs: 50 });
    expect(second).toMatchObject({ startedMs: 90, endedMs: 140, offsetMs: 0 });
  });
});

describe('timeline: ordering and facts', () => {
  it('orders tasks by index and attempts by number, whatever order they were recorded in', () => {
    const t: FanoutTrace = {
      backend: 'lambda:w',
      startedAt: T0,
      endedAt: T0 + 500,
      tasks: [
        { index: 1, attempts: [attempt(2, 300, 400), attempt(1, 0, 100, undefined, 'failed')] },
        { index: 0, attempts: [attempt(1, 0, 200)] },
        { index: 2, attempts: [] },
      ],
    };
    const timeline = buildTimeline(t);
    expect(timeline.tasks.map((x) => [x.index, x.outcome, x.attempts.map((a) => a.attempt)])).toEqual([
      [0, 'succeeded', [1]],
      [1, 'succeeded', [1, 2]],
      [2, 'not started', []],
    ]);
    expect(timeline).toMatchObject({ version: 1, backend: 'lambda:w', wallMs: 500, attempts: 3 });
    expect(timeline.startedAt).toBe(new Date(T0).toISOString());
  });

  it('keeps cold starts, instance ids and launch-to-running times, and counts cold starts', () => {
    const timeline = buildTimeline(
      trace([
        [attempt(1, 0, 100, { startedAt: T0 + 10, endedAt: T0 + 90, workerId: 'c1', coldStart: true })],
        [attempt(1, 0, 900, { instanceId: 'i-0abc', workerId: 'i-0abc', launchToRunningMs: 612 })],
      ]),
    );
    expect(timeline.coldStarts).toBe(1);
    expect(timeline.tasks[0]!.attempts[0]).toMatchObject({ coldStart: true, workerId: 'c1' });
    expect(timeline.tasks[1]!.attempts[0]).toMatchObject({ instanceId: 'i-0abc', launchToRunningMs: 612 });
  });
});

describe('timeline: concurrency curve', () => {
  it('steps up at each start and down at each end, from 0 to the end of the run', () => {
    const curve = concurrencyCurve(
      [
        { startMs: 10, endMs: 50 },
        { startMs: 20, endMs: 40 },
        { startMs: 30, endMs: 60 },
      ],
      100,
    );
    expect(curve).toEqual([
      { tMs: 0, busy: 0 },
      { tMs: 10, busy: 1 },
      { tMs: 20, busy: 2 },
      { tMs: 30, busy: 3 },
      { tMs: 40, busy: 2 },
      { tMs: 50, busy: 1 },
      { tMs: 60, busy: 0 },
      { tMs: 100, busy: 0 },
    ]);
  });

  it('counts a hand-over at one instant as one busy worker, not two', () => {
    expect(
      concurrencyCurve([
        { startMs: 0, endMs: 50 },
        { startMs: 50, endMs: 80 },
      ]),
    ).toEqual([
      { tMs: 0, busy: 1 },
      { tMs: 80, busy: 0 },
    ]);
  });

  it('uses the worker spans when known and the coordinator spans otherwise, and reports the peak', () => {
    const timeline = buildTimeline(
      trace(
        [
          [attempt(1, 0, 300, { startedAt: T0 + 100, endedAt: T0 + 200 })],
          [attempt(1, 0, 150)], // no worker clock: busy for its whole round trip
        ],
        300,
      ),
    );
    expect(timeline.concurrency).toEqual([
      { tMs: 0, busy: 1 },
      { tMs: 100, busy: 2 },
      { tMs: 150, busy: 1 },
      { tMs: 200, busy: 0 },
      { tMs: 300, busy: 0 },
    ]);
    expect(timeline.maxBusy).toBe(2);
  });
});

describe('timeline of a run made of several fan-outs (mergeTraces)', () => {
  /** A fan-out of its own, starting `at` ms after T0, its tasks' spans given relative to that start. */
  function part(at: number, spans: [number, number, string?][]): FanoutTrace {
    return {
      backend: 'test',
      startedAt: T0 + at,
      endedAt: T0 + at + Math.max(...spans.map(([, end]) => end)),
      tasks: spans.map(([from, to, workerId], index) => ({
        index,
        attempts: [
          attempt(
            1,
            at + from,
            at + to,
            workerId === undefined ? undefined : { workerId, startedAt: T0 + at + from, endedAt: T0 + at + to },
          ),
        ],
      })),
    };
  }

  it('numbers the tasks across the fan-outs in the order given and labels each as its part says', () => {
    const parse = part(10, [
      [0, 100],
      [0, 120],
    ]);
    const stats = part(200, [[0, 30]]);
    const merged = mergeTraces(
      [
        { trace: parse, label: (i) => `parse ${[4, 7][i]}` },
        { trace: stats, label: (i) => `stats r1 ${i}` },
      ],
      { startedAt: T0, endedAt: T0 + 260 },
    );
    const timeline = buildTimeline(merged);
    expect(timeline.tasks.map((t) => [t.index, t.label])).toEqual([
      [0, 'parse 4'],
      [1, 'parse 7'],
      [2, 'stats r1 0'],
    ]);
    // From the span given, not from the first fan-out's start: the coordinator's work before it shows as such.
    expect(timeline.wallMs).toBe(260);
    expect(timeline.tasks[2]!.attempts[0]).toMatchObject({ task: 2, submittedMs: 200, returnedMs: 230 });
    expect(timeline.concurrency.at(-1)).toEqual({ tMs: 260, busy: 0 });
  });

  it('spans the fan-outs when no span is given, names each backend once, and keeps labels already there', () => {
    const a = { ...part(0, [[0, 50]]), backend: 'lambda:w' };
    const b = { ...part(100, [[0, 50]]), backend: 'lambda:w' };
    const c = { ...part(300, [[0, 10]]), backend: 'ec2:c7i.large' };
    const once = mergeTraces([{ trace: a, label: () => 'first' }]);
    const merged = mergeTraces([{ trace: once }, { trace: b }, { trace: c }]);
    expect(merged.backend).toBe('lambda:w + ec2:c7i.large');
    expect(merged.startedAt).toBe(T0);
    expect(merged.endedAt).toBe(T0 + 310);
    expect(merged.tasks.map((t) => t.label)).toEqual(['first', undefined, undefined]);
    expect(() => mergeTraces([])).toThrow(/no traces/);
  });

  it("narrows one worker's clock offset over every fan-out it served", () => {
    // Worker w served a task in each fan-out: its clock (here exact) is pinned by both round trips together.
    const merged = mergeTraces([{ trace: part(0, [[10, 90, 'w']]) }, { trace: part(100, [[10, 90, 'w']]) }]);
    const timeline = buildTimeline(merged);
    expect(timeline.workers).toEqual([{ id: 'w', attempts: 2, offsetMs: 0, coldStarts: 0 }]);
    expect(timeline.tasks[1]!.attempts[0]).toMatchObject({ startedMs: 110, endedMs: 190 });
  });
});
