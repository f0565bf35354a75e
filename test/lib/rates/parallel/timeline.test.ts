/**
 * A split rates run's timeline (lib/rates/parallel/timeline.ts): the coordinator's fan-outs as one trace, a row per
 * task named by its phase and chunk, over the coordinator's span; a title that says the file, its size, the
 * chunks, the workers, the wall time and the cost; and the files publish.ts puts.
 */
import { describe, expect, it } from 'vitest';
import type { FanoutTrace } from '../../../../lib/fanout/trace.ts';
import type { Timeline } from '../../../../lib/fanout/timeline.ts';
import type { ParallelSummary } from '../../../../lib/rates/outcome.ts';
import type { PhaseTrace } from '../../../../lib/rates/parallel/run-all.ts';
import {
  type RatesTimelineFacts,
  ratesRunTrace,
  ratesTimelineTitle,
  renderRatesTimeline,
} from '../../../../lib/rates/parallel/timeline.ts';
import { darkPixels, decodePng } from '../../../support/png.ts';

const T0 = 1_800_000_000_000;

/** A fan-out of `n` tasks from `at` ms, each 40 ms on a worker of its own. */
function fanout(at: number, n: number): FanoutTrace {
  return {
    backend: 'lambda:cloud-parallel-dev-ratesWorker',
    startedAt: T0 + at,
    endedAt: T0 + at + 50,
    tasks: Array.from({ length: n }, (_, index) => ({
      index,
      attempts: [
        {
          attempt: 1,
          submittedAt: T0 + at,
          returnedAt: T0 + at + 50,
          outcome: 'succeeded' as const,
          worker: { startedAt: T0 + at + 5, endedAt: T0 + at + 45, workerId: `c${index}`, coldStart: at === 100 },
        },
      ],
    })),
  };
}

const TRACES: PhaseTrace[] = [
  { phase: 'parse', chunks: [0, 1, 2], trace: fanout(100, 3) },
  { phase: 'rerun r1', chunks: [2], trace: fanout(200, 1) },
  { phase: 'stats r1', chunks: [0, 2], trace: fanout(300, 2) },
  { phase: 'stats r2', chunks: [0, 2], trace: fanout(400, 2) },
  { phase: 'parts rerun r1', chunks: [1], trace: fanout(500, 1) },
];

const PARALLEL: ParallelSummary = {
  workers: 3,
  chunks: 3,
  reruns: 1,
  statsRounds: 2,
  wallMs: 2345,
  chunkTimings: [],
  assembly: {
    workerParts: 0,
    workerBytes: 0,
    copiedParts: 1,
    copiedBytes: 6 * 1024 ** 2,
    stitchedParts: 0,
    stitchedBytes: 0,
    rerunsWithoutParts: 1,
  },
  cost: {
    backend: 'lambda',
    requests: 9,
    gbSeconds: 0.6,
    usd: 0.0000123,
    pricing: { usdPerGbSecond: 0.0000166667, usdPerMillionRequests: 0.2, workerMemoryMb: 1769 },
  },
};

const FACTS: RatesTimelineFacts = {
  key: 'uploads/county/counties.csv',
  bytes: 34_600_000,
  runId: 'run-7',
  parallel: PARALLEL,
};

describe('ratesRunTrace', () => {
  it('puts the phases one after another, each task labelled by its phase and chunk, over the run’s span', () => {
    const trace = ratesRunTrace({ traces: TRACES, startedAt: T0, endedAt: T0 + 600 });
    expect(trace.tasks.map((t) => [t.index, t.label])).toEqual([
      [0, 'parse 0'],
      [1, 'parse 1'],
      [2, 'parse 2'],
      [3, 'rerun r1 2'],
      [4, 'stats r1 0'],
      [5, 'stats r1 2'],
      [6, 'stats r2 0'],
      [7, 'stats r2 2'],
      [8, 'parts rerun r1 1'],
    ]);
    expect([trace.startedAt, trace.endedAt]).toEqual([T0, T0 + 600]);
    expect(trace.backend).toBe('lambda:cloud-parallel-dev-ratesWorker');
  });

  it('covers a run whose clock went backwards between start and end with an empty span, not a negative one', () => {
    const trace = ratesRunTrace({ traces: TRACES, startedAt: T0 + 600, endedAt: T0 + 500 });
    expect(trace.endedAt).toBe(trace.startedAt);
  });
});

describe('ratesTimelineTitle', () => {
  const timeline = { backend: 'lambda:w', tasks: new Array(9), attempts: 9, coldStarts: 3, maxBusy: 3 } as Timeline;

  it('says the file, its size, chunks, workers, wall time and cost', () => {
    const { title, subtitle } = ratesTimelineTitle(FACTS, timeline);
    expect(title).toBe(
      'Rates of counties.csv, 34,600,000 bytes (33.0 MiB): 3 chunks on 3 workers (lambda:w) — wall 2.35 s, cost ≈ $0.000012',
    );
    expect(subtitle).toContain('run run-7 · 2 re-runs · 2 statistics rounds · 9 tasks, 9 attempts · 3 cold starts');
  });

  it('says so when the workers cost nothing (local threads), in the singular where it is one', () => {
    const parallel = { ...PARALLEL, cost: null, chunks: 1, workers: 1, wallMs: 640 };
    const { title } = ratesTimelineTitle({ ...FACTS, runId: null, parallel }, timeline);
    expect(title).toMatch(/: 1 chunk on 1 worker \(lambda:w\) — wall 640 ms, no cost \(local threads\)$/);
  });
});

describe('renderRatesTimeline', () => {
  it('gives timeline.json with every task, and a PNG with its title drawn', async () => {
    const files = await renderRatesTimeline({ traces: TRACES, startedAt: T0, endedAt: T0 + 600 }, FACTS);
    const timeline = JSON.parse(files.json) as Timeline;
    expect(timeline.tasks).toHaveLength(9);
    expect(timeline.wallMs).toBe(600);
    expect(timeline.coldStarts).toBe(3);
    expect(files.svg).toContain('Rates of counties.csv');
    expect(files.svg).toContain('stats r2 2');
    const png = decodePng(files.png);
    expect(png.width).toBeGreaterThan(700);
    expect(darkPixels(png, 0, 0, png.width, Math.round(png.height * 0.08))).toBeGreaterThan(500);
  });
});
