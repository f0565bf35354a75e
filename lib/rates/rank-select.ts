/**
 * Exact quantiles over values that do not fit in memory: the rank search behind RateStatsAccumulator.finish
 * (stats.ts), with the histogram and the exact sum fused into its first pass over the values.
 *
 * The search is a sequence of ROUNDS. `RankSearch` holds the state and plans each round as plain data (a
 * `FirstPlan`, then `RefinePlan`s); `answerFirst` / `answerRefine` apply a plan to a set of values in one pass and
 * give counts and collected values; the search folds that answer in and plans the next round. The single path
 * (`selectRanks`) answers every plan from its one source; the parallel run (parallel/stats-rounds.ts) answers the
 * same plans in every chunk, serialises the answers and merges them before handing them to the same search.
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

export type ForEachBlock = (visit: (values: Float64Array) => void) => Promise<void>;

export interface SelectLimits {
  /** Buckets per counting pass. */
  buckets: number;
  /** A bucket with at most this many values is collected into memory and sorted. */
  collectLimit: number;
}

/** One counting pass narrowed the search to bucket `k` of the mapping (lo, scale, buckets). */
export interface Level {
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

/** The pass that touches every value: histogram, exact sum, and either the root counts or every value. */
export interface FirstPlan {
  edges: number[];
  /** Bucket mapping of the root counting histogram; null when no counting is needed. */
  root: { lo: number; scale: number; buckets: number } | null;
  /** Keep every value (few values, or a range too narrow to split). */
  collectAll: boolean;
}

export interface FirstAnswer {
  /** Histogram counts per bin (added to). */
  counts: Float64Array;
  sum: ExactSum;
  rootCounts: Uint32Array | null;
  /** Every value when the plan says `collectAll`, in `values[0 .. len)`. */
  all: { values: Float64Array; len: number } | null;
}

/** A later pass: count the values of each split cell into `buckets` buckets, keep the values of each collect. */
export interface RefinePlan {
  /** The root mapping: every pending cell lies in one root bucket, a cheap first filter. */
  root: { lo: number; scale: number; buckets: number };
  splits: { chain: Level[]; lo: number; scale: number }[];
  collects: { chain: Level[]; count: number }[];
}

export interface RefineAnswer {
  splits: { counts: Float64Array; mins: Float64Array; maxs: Float64Array }[];
  collects: { values: Float64Array; len: number }[];
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
  limits: SelectLimits,
): Promise<Map<number, number>> {
  const each: ForEachBlock = (visit) => source.forEachBlock(visit);
  const search = new RankSearch(source.n, source.min, source.max, ranks, limits);
  const first = search.firstPlan(edges);
  search.acceptFirst(await answerFirst(first, each, source.n, counts, sum));
  for (let plan = search.nextPlan(); plan !== null; plan = search.nextPlan())
    search.acceptRefine(await answerRefine(plan, each, Infinity));
  return search.result;
}

/**
 * The state of one rank search: plans rounds and folds their (merged) answers in. Not tied to where the values
 * are. `result` holds each wanted rank's value once known; the search is over when `nextPlan()` gives null.
 */
export class RankSearch {
  readonly result = new Map<number, number>();
  private readonly root: Cell;
  private readonly rootScale: number | null;
  private mode: 'constant' | 'sort' | 'count';
  private pending: Cell[] = [];
  /** The cells behind the last refine plan's splits and collects, in plan order. */
  private planned: { splits: Cell[]; collects: Cell[] } | null = null;

  constructor(
    readonly n: number,
    readonly min: number,
    readonly max: number,
    ranks: number[],
    private readonly limits: SelectLimits,
  ) {
    this.root = { chain: [], lo: min, hi: max, exact: true, below: 0, count: n, ranks };
    this.rootScale = bucketScale(min, max, limits.buckets);
    if (min === max) {
      this.mode = 'constant';
      for (const r of ranks) this.result.set(r, min);
    } else if (n <= Math.min(DIRECT_SORT_LIMIT, limits.collectLimit) || this.rootScale === null) {
      // Few values (or a range too narrow to split): sort them all.
      this.mode = 'sort';
    } else {
      this.mode = 'count';
    }
  }

  firstPlan(edges: number[]): FirstPlan {
    const root =
      this.mode === 'count' ? { lo: this.min, scale: this.rootScale as number, buckets: this.limits.buckets } : null;
    return { edges, root, collectAll: this.mode === 'sort' };
  }

  acceptFirst(answer: FirstAnswer): void {
    if (this.mode === 'sort') {
      const all = answer.all;
      if (all === null || all.len !== this.n)
        throw new Error(`internal: collected ${all?.len} values, expected ${this.n}`);
      const sorted = all.values.subarray(0, all.len).sort();
      for (const r of this.root.ranks) this.result.set(r, sorted[r] as number);
    } else if (this.mode === 'count') {
      if (answer.rootCounts === null) throw new Error('internal: the first pass gave no root counts');
      this.pending = narrow(this.root, this.rootScale as number, this.limits.buckets, answer.rootCounts, null, null);
    }
  }

  /** The next round's plan, or null once every rank is known. Cells that need no pass are settled here. */
  nextPlan(): RefinePlan | null {
    const { buckets: B, collectLimit } = this.limits;
    const splits: Cell[] = [];
    const collects: Cell[] = [];
    const plan: RefinePlan = {
      root: { lo: this.min, scale: this.rootScale as number, buckets: B },
      splits: [],
      collects: [],
    };
    for (const cell of this.pending) {
      if (cell.exact && cell.lo === cell.hi) {
        for (const r of cell.ranks) this.result.set(r, cell.lo);
        continue;
      }
      const scale = bucketScale(cell.lo, cell.hi, B);
      // An unsplittable cell (range too narrow for the arithmetic) is collected whatever its size.
      if (cell.count <= collectLimit || scale === null) {
        collects.push(cell);
        plan.collects.push({ chain: cell.chain, count: cell.count });
      } else {
        splits.push(cell);
        plan.splits.push({ chain: cell.chain, lo: cell.lo, scale });
      }
    }
    this.pending = [];
    if (splits.length === 0 && collects.length === 0) {
      this.planned = null;
      return null;
    }
    this.planned = { splits, collects };
    return plan;
  }

  /** Folds in the answer to the last `nextPlan()`: collected values are sorted in place. */
  acceptRefine(answer: RefineAnswer): void {
    const planned = this.planned;
    if (planned === null) throw new Error('internal: an answer without a plan');
    this.planned = null;
    planned.collects.forEach((cell, i) => {
      const c = answer.collects[i];
      if (c === undefined || c.len !== cell.count)
        throw new Error(`internal: collected ${c?.len} values, expected ${cell.count}`);
      const sorted = c.values.subarray(0, c.len).sort();
      for (const r of cell.ranks) this.result.set(r, sorted[r - cell.below] as number);
    });
    const next: Cell[] = [];
    planned.splits.forEach((cell, i) => {
      const sp = answer.splits[i];
      if (sp === undefined) throw new Error('internal: a split without counts');
      const scale = bucketScale(cell.lo, cell.hi, this.limits.buckets) as number;
      next.push(...narrow(cell, scale, this.limits.buckets, sp.counts, sp.mins, sp.maxs));
    });
    this.pending = next;
  }
}

/**
 * The first pass over the values `each` visits (at most `capacity` of them): histogram bins into `counts`, the
 * exact sum into `sum`, and the root counts or the values themselves as the plan asks.
 */
export async function answerFirst(
  plan: FirstPlan,
  each: ForEachBlock,
  capacity: number,
  counts: Float64Array,
  sum: ExactSum,
): Promise<FirstAnswer> {
  const hist = new Histogram(plan.edges, counts);
  if (plan.collectAll) {
    const all = { values: new Float64Array(capacity), len: 0 };
    await each((values) => {
      firstPass(values, hist, sum, null);
      all.values.set(values, all.len);
      all.len += values.length;
    });
    return { counts, sum, rootCounts: null, all };
  }
  const root: RootCount | null = plan.root ? { ...plan.root, counts: new Uint32Array(plan.root.buckets) } : null;
  await each((values) => firstPass(values, hist, sum, root));
  return { counts, sum, rootCounts: root ? root.counts : null, all: null };
}

/**
 * One round after the first: one pass over the values that counts each split cell into buckets (with each
 * bucket's min and max) and keeps each collect cell's values. `capacity` caps the values kept per collect (the
 * values one source can hold at most; the plan's count is the total over every source).
 */
export async function answerRefine(plan: RefinePlan, each: ForEachBlock, capacity: number): Promise<RefineAnswer> {
  const B = plan.root.buckets;
  const splits = plan.splits.map((sp) => ({
    chain: sp.chain,
    lo: sp.lo,
    scale: sp.scale,
    buckets: B,
    counts: new Float64Array(B),
    mins: new Float64Array(B).fill(Infinity),
    maxs: new Float64Array(B).fill(-Infinity),
  }));
  const collects = plan.collects.map((c) => ({
    chain: c.chain,
    values: new Float64Array(Math.min(c.count, capacity)),
    len: 0,
  }));

  // Every pending cell lies inside one of the root's buckets, so one bucket computation per value
  // rules out nearly all values before any of the cells' own filters run.
  const wantedRoot = new Uint8Array(B);
  for (const x of [...splits, ...collects]) wantedRoot[(x.chain[0] as Level).k] = 1;
  const { lo: min, scale: rootScale } = plan.root;
  await each((values) => {
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (wantedRoot[bucketOf(v, min, rootScale, B)] === 0) continue;
      for (const sp of splits) {
        if (!inChain(v, sp.chain)) continue;
        const k = bucketOf(v, sp.lo, sp.scale, B);
        sp.counts[k] = (sp.counts[k] as number) + 1;
        if (v < (sp.mins[k] as number)) sp.mins[k] = v;
        if (v > (sp.maxs[k] as number)) sp.maxs[k] = v;
      }
      for (const c of collects) {
        if (inChain(v, c.chain)) c.values[c.len++] = v;
      }
    }
  });
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
