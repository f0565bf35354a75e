/**
 * Exact quantiles over values that do not fit in memory: the rank search behind RateStatsAccumulator.finish
 * (stats.ts), with the histogram and the exact sum fused into its first pass over the values.
 */
import type { ExactSum } from './exact-sum.ts';
import { F64, HI, LO, U32 } from './float-bits.ts';

/** Below this many values, sorting them all beats a counting pass followed by a collecting pass. */
const DIRECT_SORT_LIMIT = 1 << 16;

/** The values to search: their count and extremes, and a way to read them all, in blocks, as often as needed. */
export interface RankSource {
  n: number;
  min: number;
  max: number;
  forEachBlock(visit: (values: Float64Array) => void): Promise<void>;
}

export interface SelectLimits {
  /** Buckets per counting pass. */
  buckets: number;
  /** A bucket with at most this many values is collected into memory and sorted. */
  collectLimit: number;
}

/** One counting pass narrowed the search to bucket `k` of the mapping (lo, scale, buckets). */
interface Level {
  lo: number;
  scale: number;
  buckets: number;
  k: number;
}

/** The values matching every level of `chain`, known to hold the wanted ranks. */
interface Cell {
  chain: Level[];
  /** Bounds of the values; `exact` when they are the actual min and max, else a bucket's nominal range. */
  lo: number;
  hi: number;
  exact: boolean;
  /** Number of values, over all values, that sort before this cell. */
  below: number;
  count: number;
  /** Wanted 0-based ranks (over all values) inside this cell, ascending. */
  ranks: number[];
}

interface Split {
  cell: Cell;
  scale: number;
  counts: Float64Array;
  mins: Float64Array;
  maxs: Float64Array;
}

interface Collect {
  cell: Cell;
  values: Float64Array;
  len: number;
}

/**
 * Exact values at the given 0-based ranks of the sorted values, filling the histogram `counts` and the
 * exact `sum` on the first pass over the data.
 *
 * Each round is one pass: a cell that is still large gets a counting histogram and is narrowed to the
 * buckets holding its ranks; a small one is collected and sorted; one whose bounds are equal is done.
 * The first round is special-cased into a single loop with the histogram and the sum, since it always
 * touches every value and is most of the cost.
 */
export async function selectRanks(
  source: RankSource,
  ranks: number[],
  edges: number[],
  counts: Float64Array,
  sum: ExactSum,
  { buckets: B, collectLimit }: SelectLimits,
): Promise<Map<number, number>> {
  const result = new Map<number, number>();
  const { n, min, max } = source;
  const root: Cell = { chain: [], lo: min, hi: max, exact: true, below: 0, count: n, ranks };
  const hist = new Histogram(edges, counts);
  const rootScale = bucketScale(min, max, B);
  let pending: Cell[] = [];

  if (min === max) {
    for (const r of ranks) result.set(r, min);
    await source.forEachBlock((values) => firstPass(values, hist, sum, null));
  } else if (n <= Math.min(DIRECT_SORT_LIMIT, collectLimit) || rootScale === null) {
    // Few values (or a range too narrow to split): sort them all.
    const all = new Float64Array(n);
    let len = 0;
    await source.forEachBlock((values) => {
      firstPass(values, hist, sum, null);
      all.set(values, len);
      len += values.length;
    });
    all.sort();
    for (const r of ranks) result.set(r, all[r] as number);
  } else {
    const rootCounts = new Uint32Array(B);
    const root0: RootCount = { lo: min, scale: rootScale, buckets: B, counts: rootCounts };
    await source.forEachBlock((values) => firstPass(values, hist, sum, root0));
    pending = narrow(root, rootScale, B, rootCounts, null, null);
  }

  // Only the third case leaves cells pending, and there rootScale is not null.
  while (pending.length > 0)
    pending = await refine(source, pending, rootScale as number, { buckets: B, collectLimit }, result);
  return result;
}

/**
 * One round after the first: one pass over the values that splits the large cells further and collects the
 * small ones (whose ranks go into `result`). Returns the cells still pending.
 */
async function refine(
  source: RankSource,
  pending: Cell[],
  rootScale: number,
  limits: SelectLimits,
  result: Map<number, number>,
): Promise<Cell[]> {
  const B = limits.buckets;
  const { splits, collects } = planRound(pending, limits, result);
  if (splits.length === 0 && collects.length === 0) return [];

  // Every pending cell lies inside one of the root's buckets, so one bucket computation per value
  // rules out nearly all values before any of the cells' own filters run.
  const wantedRoot = new Uint8Array(B);
  for (const x of [...splits, ...collects]) wantedRoot[(x.cell.chain[0] as Level).k] = 1;
  const min = source.min;
  await source.forEachBlock((values) => {
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (wantedRoot[bucketOf(v, min, rootScale, B)] === 0) continue;
      for (const sp of splits) {
        if (!inChain(v, sp.cell.chain)) continue;
        const k = bucketOf(v, sp.cell.lo, sp.scale, B);
        sp.counts[k] = (sp.counts[k] as number) + 1;
        if (v < (sp.mins[k] as number)) sp.mins[k] = v;
        if (v > (sp.maxs[k] as number)) sp.maxs[k] = v;
      }
      for (const c of collects) {
        if (inChain(v, c.cell.chain)) c.values[c.len++] = v;
      }
    }
  });

  const next: Cell[] = [];
  for (const c of collects) {
    if (c.len !== c.cell.count) throw new Error(`internal: collected ${c.len} values, expected ${c.cell.count}`);
    c.values.sort();
    for (const r of c.cell.ranks) result.set(r, c.values[r - c.cell.below] as number);
  }
  for (const sp of splits) next.push(...narrow(sp.cell, sp.scale, B, sp.counts, sp.mins, sp.maxs));
  return next;
}

/** Sorts the pending cells into done (their ranks go into `result`), to split, and to collect. */
function planRound(
  pending: Cell[],
  { buckets: B, collectLimit }: SelectLimits,
  result: Map<number, number>,
): { splits: Split[]; collects: Collect[] } {
  const splits: Split[] = [];
  const collects: Collect[] = [];
  for (const cell of pending) {
    if (cell.exact && cell.lo === cell.hi) {
      for (const r of cell.ranks) result.set(r, cell.lo);
      continue;
    }
    const scale = bucketScale(cell.lo, cell.hi, B);
    // An unsplittable cell (range too narrow for the arithmetic) is collected whatever its size.
    if (cell.count <= collectLimit || scale === null) {
      collects.push({ cell, values: new Float64Array(cell.count), len: 0 });
    } else {
      splits.push({
        cell,
        scale,
        counts: new Float64Array(B),
        mins: new Float64Array(B).fill(Infinity),
        maxs: new Float64Array(B).fill(-Infinity),
      });
    }
  }
  return { splits, collects };
}

/** The cells (one per bucket that holds wanted ranks) after a counting pass over `cell`. */
function narrow(
  cell: Cell,
  scale: number,
  B: number,
  counts: ArrayLike<number>,
  mins: Float64Array | null,
  maxs: Float64Array | null,
): Cell[] {
  const out: Cell[] = [];
  let below = cell.below;
  let ri = 0;
  for (let k = 0; k < B && ri < cell.ranks.length; k++) {
    const cnt = counts[k] as number;
    const inBucket: number[] = [];
    while (ri < cell.ranks.length && (cell.ranks[ri] as number) < below + cnt)
      inBucket.push(cell.ranks[ri++] as number);
    if (inBucket.length > 0) {
      out.push({
        chain: [...cell.chain, { lo: cell.lo, scale, buckets: B, k }],
        // Without tracked extremes, the bucket's nominal range; values rounding outside it are clamped
        // into the end buckets of the next pass, which keeps the mapping monotone.
        lo: mins ? (mins[k] as number) : Math.max(cell.lo, cell.lo + k / scale),
        hi: maxs ? (maxs[k] as number) : Math.min(cell.hi, cell.lo + (k + 1) / scale),
        exact: mins !== null,
        below,
        count: cnt,
        ranks: inBucket,
      });
    }
    below += cnt;
  }
  return out;
}

/** Equal-width bins between fixed edges; counts agree with the edges exactly. */
class Histogram {
  readonly lo: number;
  readonly inv: number;
  readonly last: number;
  readonly edges: Float64Array;

  constructor(
    edges: number[],
    readonly counts: Float64Array,
  ) {
    const bins = edges.length - 1;
    this.edges = Float64Array.from(edges);
    this.lo = edges[0] as number;
    const hi = edges[bins] as number;
    let step = (hi - this.lo) / bins;
    if (step === Infinity) step = hi / bins - this.lo / bins;
    this.inv = 1 / step;
    this.last = bins - 1;
  }
}

interface RootCount {
  lo: number;
  scale: number;
  buckets: number;
  counts: Uint32Array;
}

/**
 * The one pass that touches every value: histogram bin, exact sum and (for large inputs) the root counting
 * histogram of the quantile search, fused so that the values are read once.
 */
function firstPass(values: Float64Array, hist: Histogram, sum: ExactSum, root: RootCount | null): void {
  for (let start = 0; start < values.length; ) {
    const end = Math.min(values.length, start + sum.room());
    const { lo, inv, last, edges, counts } = hist;
    const { hiAcc, loAcc } = sum;
    const rLo = root ? root.lo : 0;
    const rScale = root ? root.scale : 0;
    const rB = root ? root.buckets : 0;
    const rCounts = root ? root.counts : null;
    for (let i = start; i < end; i++) {
      const v = values[i] as number;

      let b = Math.floor((v - lo) * inv);
      if (!(b >= 0)) b = 0;
      else if (b > last) b = last;
      // The estimate can land a bin off near an edge; the published edges are the truth.
      while (b < last && v >= (edges[b + 1] as number)) b++;
      while (b > 0 && v < (edges[b] as number)) b--;
      counts[b] = (counts[b] as number) + 1;

      F64[0] = v;
      const h = U32[HI] as number;
      const l = U32[LO] as number;
      const e = (h >>> 20) & 0x7ff;
      const top = ((h & 0xfffff) + (e === 0 ? 0 : 0x100000)) * 64 + (l >>> 26);
      const bottom = l & 0x3ffffff;
      const E = e === 0 ? 1 : e;
      if (h >>> 31 === 0) {
        hiAcc[E] = (hiAcc[E] as number) + top;
        loAcc[E] = (loAcc[E] as number) + bottom;
      } else {
        hiAcc[E] = (hiAcc[E] as number) - top;
        loAcc[E] = (loAcc[E] as number) - bottom;
      }

      if (rCounts !== null) {
        const k = bucketOf(v, rLo, rScale, rB);
        rCounts[k] = (rCounts[k] as number) + 1;
      }
    }
    sum.added(end - start);
    start = end;
  }
}

/** null when the range is too narrow for `buckets / (hi - lo)` to be finite. */
function bucketScale(lo: number, hi: number, buckets: number): number | null {
  const width = hi - lo;
  const scale = width === Infinity ? buckets / 2 / (hi / 2 - lo / 2) : buckets / width;
  return Number.isFinite(scale) && scale > 0 ? scale : null;
}

/** Monotone in v (every step is a correctly rounded, monotone operation), which the rank search relies on. */
function bucketOf(v: number, lo: number, scale: number, buckets: number): number {
  const k = Math.floor((v - lo) * scale);
  return k < 0 ? 0 : k >= buckets ? buckets - 1 : k;
}

function inChain(v: number, chain: Level[]): boolean {
  for (let i = 0; i < chain.length; i++) {
    const l = chain[i] as Level;
    if (bucketOf(v, l.lo, l.scale, l.buckets) !== l.k) return false;
  }
  return true;
}
