/**
 * Answers to the rank search's plans (rank-search.ts), one pass over the values each: the first pass fuses the
 * histogram, the exact sum and the root counts; a refine pass counts split cells and collects small ones. The
 * single path (selectRanks) answers over its one source; the parallel rounds answer per chunk and merge.
 */
import type { ExactSum } from './exact-sum.ts';
import { F64, HI, LO, U32 } from './float-bits.ts';
import type { FirstAnswer, FirstPlan, Level, RefineAnswer, RefinePlan } from './rank-search.ts';

export type ForEachBlock = (visit: (values: Float64Array) => void) => Promise<void>;

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
