import { describe, expect, it } from 'vitest';
import { ExactSum } from '../../../../lib/rates/exact-sum.ts';
import {
  answerStatsPlan,
  chunkValuesOf,
  DISTRIBUTED_LIMITS,
  StatsRounds,
} from '../../../../lib/rates/parallel/stats-rounds.ts';
import { fromWire, toWire } from '../../../../lib/rates/parallel/stats-wire.ts';
import type { SelectLimits } from '../../../../lib/rates/rank-search.ts';
import { type RateStats, RateStatsAccumulator } from '../../../../lib/rates/stats.ts';
import { rng } from '../../../support/random.ts';

const SEED = Number(process.env.STATS_ROUNDS_SEED ?? Date.now() % 2 ** 31);
console.log(`stats-rounds seed ${SEED} (set STATS_ROUNDS_SEED to replay)`);

/** The single-worker path: the accumulator RateStats comes from, over the values in row order. */
async function singlePath(values: number[], bins: number, limits?: SelectLimits): Promise<RateStats> {
  const acc = new RateStatsAccumulator(
    limits ? { selectBuckets: limits.buckets, collectLimit: limits.collectLimit, memoryLimit: 4096 } : {},
  );
  for (const v of values) acc.add(v);
  return acc.finish(bins);
}

/** What crosses Lambda: everything goes through JSON text. */
const viaJson = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

interface ParallelRun {
  stats: RateStats;
  rounds: number;
  maxAnswerBytes: number;
}

/** The parallel path over chunks (row order kept): n/min/max merged in chunk order, then the rounds. */
async function parallelPath(chunks: Float64Array[], bins: number, limits?: SelectLimits): Promise<ParallelRun> {
  let n = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const c of chunks) {
    n += c.length;
    // The single path's rule, which the chunk merge (merge.ts) keeps: the first of equal extremes wins.
    for (const v of c) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  const rounds = new StatsRounds({ n, min, max, bins, limits });
  let maxAnswerBytes = 0;
  for (let plan = rounds.plan; plan !== null; plan = rounds.plan) {
    const sent = JSON.stringify(plan);
    const answers: unknown[] = [];
    for (const c of chunks) {
      const text = JSON.stringify(await answerStatsPlan(JSON.parse(sent), chunkValuesOf(c)));
      maxAnswerBytes = Math.max(maxAnswerBytes, text.length);
      answers.push(JSON.parse(text));
    }
    rounds.merge(answers);
  }
  return { stats: rounds.result(), rounds: rounds.rounds, maxAnswerBytes };
}

/** Cuts `values` at random points into `k` chunks (some possibly empty). */
function split(values: number[], k: number, rand: () => number): Float64Array[] {
  const cuts = Array.from({ length: k - 1 }, () => Math.floor(rand() * (values.length + 1))).sort((a, b) => a - b);
  const bounds = [0, ...cuts, values.length];
  return bounds.slice(1).map((end, i) => Float64Array.from(values.slice(bounds[i], end)));
}

/** A number as the failure message should show it: -0 visibly. */
const show = (x: number | undefined): string => (Object.is(x, -0) ? '-0' : String(x));

/** Equal bit for bit: Object.is on every number (0 and -0 differ). */
function expectSameStats(got: RateStats, want: RateStats, label: string): void {
  for (const key of ['min', 'max', 'mean', 'median', 'p95'] as const)
    expect(Object.is(got[key], want[key]), `${label}: ${key} ${show(got[key])} vs ${show(want[key])}`).toBe(true);
  expect(got.histogram.counts, `${label}: counts`).toEqual(want.histogram.counts);
  expect(got.histogram.edges.length).toBe(want.histogram.edges.length);
  got.histogram.edges.forEach((e, i) => {
    expect(
      Object.is(e, want.histogram.edges[i]),
      `${label}: edge ${i} ${show(e)} vs ${show(want.histogram.edges[i])}`,
    ).toBe(true);
  });
}

type Gen = (rand: () => number, n: number) => number[];
const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

const GENERATORS: Record<string, Gen> = {
  uniform: (rand, n) => Array.from({ length: n }, () => rand() * 100),
  negatives: (rand, n) => Array.from({ length: n }, () => (rand() - 0.7) * 1e6),
  duplicatesHeavy: (rand, n) => Array.from({ length: n }, () => (rand() < 0.9 ? pick(rand, [1, 2.5, 2.5, 7]) : rand())),
  clustered: (rand, n) => Array.from({ length: n }, () => 1 + (rand() < 0.5 ? rand() * 1e-12 : rand())),
  allEqual: (_rand, n) => Array.from({ length: n }, () => 3.75),
  signedZeros: (rand, n) => Array.from({ length: n }, () => pick(rand, [0, -0, -0, 0, 1e-300, -2, 5])),
  onlyZeros: (rand, n) => Array.from({ length: n }, () => (rand() < 0.5 ? 0 : -0)),
  hugeAndTiny: (rand, n) =>
    Array.from({ length: n }, () =>
      pick(rand, [
        Number.MAX_VALUE,
        -Number.MAX_VALUE,
        1e300 * rand(),
        2 ** 700,
        5e-324,
        -5e-324,
        1e-310 * rand(),
        rand(),
        0,
      ]),
    ),
  subnormalsOnly: (rand, n) => Array.from({ length: n }, () => Math.floor(rand() * 50) * 5e-324),
};

describe('StatsRounds equals RateStatsAccumulator.finish on the same values (seeded)', () => {
  it('random sets, random chunkings, small limits that force refinement rounds', async () => {
    const rand = rng(SEED);
    let refined = 0;
    for (let trial = 0; trial < 120; trial++) {
      const kind = pick(rand, Object.keys(GENERATORS));
      const n = pick(rand, [1, 2, 3, 17, 200, 1500, 6000]);
      const values = (GENERATORS[kind] as Gen)(rand, n);
      const limits = { buckets: pick(rand, [2, 3, 16, 256]), collectLimit: pick(rand, [1, 7, 64, 1000]) };
      const bins = pick(rand, [1, 7, 50]);
      const chunks = split(values, 1 + Math.floor(rand() * 9), rand);
      const label = `seed ${SEED} trial ${trial} ${kind} n=${n} ${JSON.stringify(limits)} chunks=${chunks.map((c) => c.length)}`;
      const run = await parallelPath(chunks, bins, limits);
      expectSameStats(run.stats, await singlePath(values, bins, limits), label);
      if (run.rounds > 2) refined++;
    }
    // Several refinement rounds must actually have run, or the test proves little.
    expect(refined).toBeGreaterThan(10);
  });

  it('many refinement rounds on clustered data over many chunks', async () => {
    const rand = rng(SEED + 1);
    const values = (GENERATORS.clustered as Gen)(rand, 20_000);
    const limits = { buckets: 4, collectLimit: 16 };
    const run = await parallelPath(split(values, 12, rand), 30, limits);
    expectSameStats(run.stats, await singlePath(values, 30, limits), `seed ${SEED + 1}`);
    expect(run.rounds).toBeGreaterThan(5);
  });

  it('with the default limits, matches the single path with ITS defaults (no mixed zeros) over 64 chunks', async () => {
    const rand = rng(SEED + 2);
    const values = Array.from({ length: 150_000 }, () => (rand() < 0.3 ? 1 : rand() * rand() * 50));
    const run = await parallelPath(split(values, 64, rand), 40);
    expectSameStats(run.stats, await singlePath(values, 40), `seed ${SEED + 2}`);
    expect(run.rounds).toBeGreaterThanOrEqual(2);
  });

  it('bounds every answer far below the 6 MB reply with the default limits, even for one chunk', async () => {
    const rand = rng(SEED + 3);
    // Spread values hit every root bucket; dense duplicates of a few values make a large collect-free cell.
    const values = Array.from({ length: 400_000 }, () => (rand() < 0.5 ? rand() : 0.5 + rand() * 1e-9));
    const run = await parallelPath([Float64Array.from(values)], 20);
    expectSameStats(run.stats, await singlePath(values, 20, DISTRIBUTED_LIMITS), `seed ${SEED + 3}`);
    console.log(`one 400k-value chunk: ${run.rounds} rounds, largest answer ${run.maxAnswerBytes} bytes of JSON`);
    expect(run.rounds).toBeGreaterThan(2);
    expect(run.maxAnswerBytes).toBeLessThan(2.1e6);
  });

  it('with the default limits against the single path defaults, only the sign of a zero quantile may differ', async () => {
    // The one documented difference: a cell of only zeros takes its first zero's sign, a collected one sorts -0
    // first, and which of the two a cell becomes depends on the limits.
    const rand = rng(SEED + 5);
    for (let trial = 0; trial < 3; trial++) {
      // Over 32,768 zeros (the distributed collect limit) but under the single path's 1M: the case that differs.
      const values = Array.from({ length: 100_000 + Math.floor(rand() * 40_000) }, () =>
        pick(rand, [0, -0, 1, rand(), -rand()]),
      );
      const run = await parallelPath(split(values, 8, rand), 10);
      const want = await singlePath(values, 10);
      const label = `seed ${SEED + 5} trial ${trial}`;
      for (const key of ['median', 'p95'] as const) {
        const same = Object.is(run.stats[key], want[key]) || (run.stats[key] === 0 && want[key] === 0);
        expect(same, `${label}: ${key} ${show(run.stats[key])} vs ${show(want[key])}`).toBe(true);
      }
      expectSameStats({ ...run.stats, median: want.median, p95: want.p95 }, want, label);
    }
  });
});

describe('what crosses Lambda', () => {
  it('plans and answers survive JSON, -0 included', async () => {
    const values = Float64Array.from([-0, 0, 3, -0, 2, 1, 0, 7, 7, 7, -1, 4]);
    const rounds = new StatsRounds({
      n: values.length,
      min: -1,
      max: 7,
      bins: 5,
      limits: { buckets: 2, collectLimit: 1 },
    });
    const plans = [];
    for (let plan = rounds.plan; plan !== null; plan = rounds.plan) {
      plans.push(plan);
      expect(viaJson(plan)).toStrictEqual(plan);
      const answers = [values.subarray(0, 5), values.subarray(5)].map((c) => answerStatsPlan(plan, chunkValuesOf(c)));
      const resolved = await Promise.all(answers);
      for (const a of resolved) expect(viaJson(a)).toStrictEqual(a);
      rounds.merge(resolved.map(viaJson));
    }
    expect(plans.length).toBeGreaterThan(1);
    expect(toWire(-0)).toBe('-0');
    expect(Object.is(fromWire(viaJson(toWire(-0))), -0)).toBe(true);
    expect(fromWire(viaJson(toWire(5e-324)))).toBe(5e-324);
  });

  it('rejects an answer to another round, a missing chunk and a malformed plan', async () => {
    const values = Float64Array.from({ length: 100 }, (_, i) => i);
    const rounds = new StatsRounds({ n: 100, min: 0, max: 99, bins: 4, limits: { buckets: 4, collectLimit: 8 } });
    const first = await answerStatsPlan(rounds.plan, chunkValuesOf(values));
    expect(() => rounds.merge([{ ...first, n: 99 }])).toThrow(/hold 99 values, expected 100/);
    expect(() => rounds.merge([{ ...first, root: null }])).toThrow(/does not match the plan/);
    rounds.merge([first]);
    expect(() => rounds.merge([first])).toThrow(/answered first round 0, expected refine 1/);
    await expect(answerStatsPlan({ kind: 'refine', round: 1 }, chunkValuesOf(values))).rejects.toThrow(
      /not a statistics plan/,
    );
  });
});

describe('ExactSum partials', () => {
  it('merging chunk sums in any order gives the one-pass mean bit for bit (big values included)', async () => {
    const rand = rng(SEED + 4);
    for (let trial = 0; trial < 30; trial++) {
      const values = (GENERATORS[pick(rand, ['hugeAndTiny', 'negatives', 'uniform'])] as Gen)(rand, 300);
      const want = await singlePath(values, 1);
      const chunks = split(values, 1 + Math.floor(rand() * 6), rand);
      const plan = new StatsRounds({ n: values.length, min: want.min, max: want.max, bins: 1 }).plan;
      // A chunk's sum as it crosses Lambda: the partials of its first-round answer, through JSON.
      const sums: ExactSum[] = [];
      for (const c of chunks) {
        const answer = viaJson(await answerStatsPlan(plan, chunkValuesOf(c)));
        if (answer.kind !== 'first') throw new Error('expected a first-round answer');
        sums.push(ExactSum.fromPartials(answer.partials));
      }
      sums.sort(() => rand() - 0.5);
      const merged = sums.reduce((acc, s) => acc.add(s), new ExactSum());
      expect(Object.is(merged.mean(values.length), want.mean), `seed ${SEED + 4} trial ${trial}`).toBe(true);
    }
  });

  it('fromPartials refuses what is not a finite number', () => {
    expect(() => ExactSum.fromPartials([1, Number.NaN])).toThrow(/not a finite number/);
    expect(() => ExactSum.fromPartials([Infinity])).toThrow(/not a finite number/);
  });
});
