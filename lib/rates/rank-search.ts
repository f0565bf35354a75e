/**
 * The rank search's state and its plans (see rank-select.ts for the whole picture): `RankSearch` plans each round
 * as plain data (a `FirstPlan`, then `RefinePlan`s) and folds the (merged) answers in. It never touches values:
 * rank-answer.ts answers the plans, over one source (selectRanks) or per chunk (parallel/stats-rounds.ts).
 */
import type { ExactSum } from './exact-sum.ts';

/** Below this many values, sorting them all beats a counting pass followed by a collecting pass. */
const DIRECT_SORT_LIMIT = 1 << 16;

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

/** null when the range is too narrow for `buckets / (hi - lo)` to be finite. */
function bucketScale(lo: number, hi: number, buckets: number): number | null {
  const width = hi - lo;
  const scale = width === Infinity ? buckets / 2 / (hi / 2 - lo / 2) : buckets / width;
  return Number.isFinite(scale) && scale > 0 ? scale : null;
}
