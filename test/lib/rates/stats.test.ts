import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rng } from '../../support/random.ts';
import { RateStatsAccumulator, type RateStats, type RateStatsAccumulatorOptions } from '../../../lib/rates/stats.ts';

// Reference: sort everything, interpolate like numpy's default ('linear', position (n-1)*q).
function refQuantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const t = pos - lo;
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  // numpy _lerp
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

/**
 * Exact mean reference: every double is an integer multiple of 2^-1074, so the sum is an exact BigInt S
 * (in units of 2^-1074) and the mean is S / n rounded once, to nearest-even.
 */
function exactMean(xs: number[]): number {
  const view = new DataView(new ArrayBuffer(8));
  let sum = 0n;
  for (const x of xs) {
    view.setFloat64(0, x);
    const hi = view.getUint32(0);
    const lo = view.getUint32(4);
    const e = (hi >>> 20) & 0x7ff;
    let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
    if (e > 0) m = (m | (1n << 52n)) << BigInt(e - 1);
    sum += hi >>> 31 ? -m : m;
  }
  const n = BigInt(xs.length);
  const neg = sum < 0n;
  const abs = neg ? -sum : sum;
  let result: number;
  if (abs / n < 1n << 52n) {
    // Subnormal (or zero) result: round to a whole number of 2^-1074 units.
    const q = abs / n;
    const twice = (abs % n) * 2n;
    const up = twice > n || (twice === n && (q & 1n) === 1n);
    result = Number(up ? q + 1n : q) * 2 ** -1074;
  } else {
    // Normal result: a quotient with 66+ bits plus a sticky bit, rounded once by Number().
    const k = 68 - (abs.toString(2).length - n.toString(2).length);
    const num = k >= 0 ? abs << BigInt(k) : abs;
    const den = k >= 0 ? n : n << BigInt(-k);
    const q = num / den;
    const t = (q << 1n) | (num % den !== 0n ? 1n : 0n);
    result = Number(t);
    // Scale by 2^(-k-1-1074) in steps whose factors are representable; the result is normal, so exact.
    let exp = -k - 1 - 1074;
    for (; exp < -1000; exp += 1000) result *= 2 ** -1000;
    for (; exp > 1000; exp -= 1000) result *= 2 ** 1000;
    result *= 2 ** exp;
  }
  return neg ? -result : result;
}

function checkAgainstReference(values: number[], stats: RateStats, bins: number): void {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  expect(stats.min).toBe(sorted[0]);
  expect(stats.max).toBe(sorted[n - 1]);
  expect(stats.mean).toBe(exactMean(values));
  expect(stats.median).toBe(refQuantile(sorted, 0.5));
  expect(stats.p95).toBe(refQuantile(sorted, 0.95));

  const { edges, counts } = stats.histogram;
  expect(edges).toHaveLength(bins + 1);
  expect(counts).toHaveLength(bins);
  for (let i = 1; i < edges.length; i++) expect(edges[i]).toBeGreaterThanOrEqual(edges[i - 1] as number);
  const min = sorted[0] as number;
  const max = sorted[n - 1] as number;
  if (min < max) {
    expect(edges[0]).toBe(min);
    expect(edges[bins]).toBe(max);
    const width = (max - min) / bins;
    for (const [i, e] of edges.entries())
      expect(Math.abs(e - (min + width * i))).toBeLessThanOrEqual(
        1e-9 * Math.max(Math.abs(max), Math.abs(min)) + 1e-300,
      );
  }
  // Counts must agree with the published edges: [e_i, e_i+1), last bin closed.
  const expected = new Array<number>(bins).fill(0);
  for (const v of values) {
    let b = 0;
    while (b < bins - 1 && v >= (edges[b + 1] as number)) b++;
    expected[b]!++;
  }
  expect(counts).toEqual(expected);
  expect(counts.reduce((a, b) => a + b, 0)).toBe(n);
}

async function statsOf(values: number[], bins: number, options?: RateStatsAccumulatorOptions): Promise<RateStats> {
  const acc = new RateStatsAccumulator(options);
  for (const v of values) acc.add(v);
  return acc.finish(bins);
}

const tmpRoot = mkdtempSync(join(tmpdir(), 'rates-stats-test-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

describe('RateStatsAccumulator', () => {
  it('n = 1', async () => {
    const s = await statsOf([0.25], 10);
    expect(s).toMatchObject({ min: 0.25, max: 0.25, mean: 0.25, median: 0.25, p95: 0.25 });
    expect(s.histogram.edges[0]).toBe(-0.25);
    expect(s.histogram.edges[10]).toBe(0.75);
    expect(s.histogram.counts.reduce((a, b) => a + b)).toBe(1);
    expect(s.histogram.counts[5]).toBe(1);
  });

  it('n = 2 interpolates', async () => {
    const s = await statsOf([3, 1], 2);
    expect(s).toMatchObject({ min: 1, max: 3, mean: 2, median: 2, p95: 2.9 });
    expect(s.histogram).toEqual({ edges: [1, 2, 3], counts: [1, 1] });
  });

  it('min === max uses a unit-wide window split into bins', async () => {
    const s = await statsOf(new Array(1000).fill(7), 4);
    expect(s).toMatchObject({ min: 7, max: 7, mean: 7, median: 7, p95: 7 });
    expect(s.histogram.edges).toEqual([6.5, 6.75, 7, 7.25, 7.5]);
    expect(s.histogram.counts).toEqual([0, 0, 1000, 0]);
  });

  it('a value equal to max goes in the last bin', async () => {
    const s = await statsOf([0, 1, 2, 3, 4], 4);
    expect(s.histogram).toEqual({ edges: [0, 1, 2, 3, 4], counts: [1, 1, 1, 2] });
  });

  it('puts values lying exactly on bin edges into the bin they start', async () => {
    const rand = rng(19);
    for (let k = 0; k < 200; k++) {
      const lo = (rand() - 0.5) * 10 ** Math.floor(rand() * 6 - 3);
      const hi = lo + rand() * 10 ** Math.floor(rand() * 6 - 3);
      const bins = 1 + Math.floor(rand() * 50);
      const edges = (await statsOf([lo, hi], bins)).histogram.edges;
      const values = [...edges, lo, hi];
      const s = await statsOf(values, bins);
      expect(s.histogram.edges).toEqual(edges);
      checkAgainstReference(values, s, bins);
    }
  });

  it('matches the sort-based reference on random data (duplicates, negatives, outliers)', async () => {
    const rand = rng(7);
    const shapes: Array<() => number> = [
      () => rand(),
      () => Math.floor(rand() * 20) / 7, // heavy duplicates
      () => (rand() - 0.7) * 1e-3, // negatives
      () => Math.exp(rand() * 30 - 15), // log-normal-ish, many orders of magnitude
      () => (rand() < 0.001 ? 1e12 : rand()), // a few huge outliers
    ];
    for (const [si, shape] of shapes.entries()) {
      for (const n of [3, 10, 101, 5000, 70_000]) {
        const values = Array.from({ length: n }, shape);
        const bins = 1 + ((si * 7 + n) % 37);
        checkAgainstReference(values, await statsOf(values, bins), bins);
      }
    }
  });

  it('refines the quantile search when a bucket is too big to collect', async () => {
    const rand = rng(11);
    // 8 buckets and a collect limit of 50 force several counting passes; outliers squeeze the bulk
    // of the values into one bucket.
    const opts = { selectBuckets: 8, collectLimit: 50, memoryLimit: 1000, tmpDir: tmpRoot };
    for (const n of [51, 999, 20_000]) {
      const values = Array.from({ length: n }, (_, i) => (i % 997 === 0 ? 1e9 : rand() + (i % 3)));
      checkAgainstReference(values, await statsOf(values, 13, opts), 13);
      const dupes = Array.from({ length: n }, (_, i) => (i % 10 === 0 ? rand() : 0.5));
      checkAgainstReference(dupes, await statsOf(dupes, 5, opts), 5);
    }
  });

  it('collects a bucket too narrow to split, whatever its size', async () => {
    const values = Array.from({ length: 300 }, (_, i) => [5e-324, 1e-323, 1.5e-323][i % 3] as number);
    checkAgainstReference(values, await statsOf(values, 3, { selectBuckets: 8, collectLimit: 10 }), 3);
  });

  it('spills to a temp file beyond memoryLimit, gives exact results, and deletes the file', async () => {
    const rand = rng(3);
    const acc = new RateStatsAccumulator({ memoryLimit: 1000, tmpDir: tmpRoot });
    const values: number[] = [];
    for (let i = 0; i < 25_500; i++) {
      const v = Math.floor(rand() * 5000) / Math.floor(1000 + rand() * 1e6);
      values.push(v);
      acc.add(v);
    }
    const file = acc.spillPath;
    expect(file).not.toBeNull();
    expect(existsSync(file as string)).toBe(true);
    const stats = await acc.finish(20);
    checkAgainstReference(values, stats, 20);
    expect(existsSync(file as string)).toBe(false);
    expect(acc.spillPath).toBeNull();
  });

  it('dispose() removes the spill file on an error path and is idempotent', async () => {
    const acc = new RateStatsAccumulator({ memoryLimit: 10, tmpDir: tmpRoot });
    for (let i = 0; i < 100; i++) acc.add(i);
    const file = acc.spillPath as string;
    expect(existsSync(file)).toBe(true);
    acc.dispose();
    acc.dispose();
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(tmpRoot)).toEqual([]);
    await expect(acc.finish(5)).rejects.toThrow();
  });

  it('finish() rejects without values or with bad bins, and still cleans up', async () => {
    await expect(new RateStatsAccumulator().finish(5)).rejects.toThrow(/no values/);
    const acc = new RateStatsAccumulator({ memoryLimit: 10, tmpDir: tmpRoot });
    for (let i = 0; i < 50; i++) acc.add(i);
    await expect(acc.finish(0)).rejects.toThrow(/bins/);
    expect(readdirSync(tmpRoot)).toEqual([]);
  });

  it('the mean is the correctly rounded sum / n where naive and compensated sums drift', async () => {
    const cases = [
      [1e16, 1, -1e16, ...new Array(1000).fill(0.1)],
      [1e308, 1e308, -1e308, 1],
      [5e-324, 5e-324, 1e-310, -2.5e-320],
      [0.1, 0.1, 0.1],
      new Array(12345).fill(0.7),
      Array.from({ length: 5000 }, (_, i) => (i % 2 ? 1e20 : -1e20) + i * 1e-3),
    ];
    for (const values of cases) {
      const s = await statsOf(values, 3);
      expect(s.mean).toBe(exactMean(values));
    }
    // The sum overflows but the mean does not.
    expect((await statsOf([1.5e308, 1.5e308], 2)).mean).toBe(1.5e308);
  });
});

describe('addMany', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stats-add-many-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives what add gives value by value, across spills and constant runs, with the block reused between calls', async () => {
    const next = rng(77);
    const values = [
      ...Array.from({ length: 3000 }, () => 0.25), // a constant run first: counted, not spilled
      ...Array.from({ length: 5000 }, () => next() * 1000 - 500),
      -0,
      0,
      ...Array.from({ length: 2000 }, () => 7),
    ];
    const options = { memoryLimit: 1024, tmpDir: dir, selectBuckets: 16, collectLimit: 64 };
    const one = new RateStatsAccumulator(options);
    for (const v of values) one.add(v);
    const blocks = new RateStatsAccumulator(options);
    const block = new Float64Array(700);
    for (let at = 0; at < values.length; at += block.length) {
      const part = values.slice(at, at + block.length);
      block.set(part);
      // Their extremes as add would see them: the first of -0 and 0 stays the minimum.
      let min = Infinity;
      let max = -Infinity;
      for (const v of part) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      blocks.addMany(block.subarray(0, part.length), min, max);
      block.fill(Number.NaN); // the caller's block is its own again
    }
    expect(blocks.count).toBe(values.length);
    expect(await blocks.finish(12)).toEqual(await one.finish(12));
  });
});
