/**
 * ExactSum's partials (what a parallel run's chunks send the coordinator): the sums of the chunks of a stream,
 * merged from their partials after a JSON round trip, give the mean the single path's statistics give.
 */
import { describe, expect, it } from 'vitest';
import { ExactSum } from '../../../lib/rates/exact-sum.ts';
import { RateStatsAccumulator } from '../../../lib/rates/stats.ts';
import { rng } from '../../support/random.ts';

/** The mean as the single path computes it (RateStatsAccumulator.finish, its fused first pass). */
async function singleMean(values: Float64Array): Promise<number> {
  const acc = new RateStatsAccumulator();
  for (const v of values) acc.add(v);
  return (await acc.finish(1)).mean;
}

/** The mean from `cuts` chunks, each summed on its own and sent as JSON. */
function chunkedMean(values: Float64Array, cuts: number[]): number {
  const bounds = [0, ...cuts, values.length];
  const parts = cuts.concat(values.length).map((end, k) => {
    const sum = new ExactSum();
    sum.addValues(values.subarray(bounds[k], end));
    return JSON.parse(JSON.stringify(sum.partials())) as number[];
  });
  return parts.reduce((total, p) => total.add(ExactSum.fromPartials(p)), new ExactSum()).mean(values.length);
}

describe('ExactSum partials', () => {
  it('merge to the single path mean, bit for bit, over seeded random values and cuts', async () => {
    const seed = Number(process.env.EXACT_SUM_SEED ?? Date.now() % 1_000_000);
    console.log(`ExactSum partials: seed ${seed} (rerun with EXACT_SUM_SEED=${seed})`);
    const next = rng(seed);
    const kinds = [
      () => next() * 1000,
      () => (next() - 0.5) * 2 ** Math.floor(next() * 200 - 100),
      () => 1e300 * next(),
      () => -1e300 * next(),
      () => 5e-324 * Math.floor(next() * 10),
      () => 0.1,
    ];
    for (let t = 0; t < 40; t++) {
      const kind = Math.floor(next() * kinds.length);
      const n = 1 + Math.floor(next() * 3000);
      const values = Float64Array.from({ length: n }, () =>
        (kinds[(kind + Math.floor(next() * 2)) % kinds.length] as () => number)(),
      );
      const cuts = Array.from({ length: Math.floor(next() * 5) }, () => Math.floor(next() * (n + 1))).sort(
        (a, b) => a - b,
      );
      expect(Object.is(chunkedMean(values, cuts), await singleMean(values)), `seed ${seed}, case ${t}`).toBe(true);
    }
  });

  it('stay exact where a naive sum of chunk sums would not', () => {
    // 1e16 + 1 + -1e16 in two chunks: naive chunk sums give 0 or 2; the exact sum is 1.
    const values = Float64Array.from([1e16, 1, -1e16]);
    expect(chunkedMean(values, [1])).toBe(1 / 3);
    expect(chunkedMean(values, [2])).toBe(1 / 3);
  });

  it('of no values are empty', () => {
    expect(new ExactSum().partials()).toEqual([]);
  });
});
