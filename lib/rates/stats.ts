import { tmpdir } from 'node:os';
import { ExactSum } from './exact-sum.ts';
import { F64, HI, LO, U32 } from './float-bits.ts';
import { histogramEdges, lerp, quantilePosition } from './quantile.ts';
import { SpillFile } from './spill.ts';

export interface RateStats {
  min: number;
  max: number;
  mean: number;
  median: number;
  p95: number;
  /** `edges.length === bins + 1`; bin i is [edges[i], edges[i+1]), the last bin also includes its upper edge. */
  histogram: { edges: number[]; counts: number[] };
}

export interface RateStatsAccumulatorOptions {
  /** Values held in memory before full buffers are spilled to a temp file (default 1M = 8 MB). */
  memoryLimit?: number;
  /** Where the spill file goes (default `os.tmpdir()`, which is /tmp on Lambda). */
  tmpDir?: string;
  /** Buckets per counting pass of the exact quantile selection (default 65536). */
  selectBuckets?: number;
  /** A bucket with at most this many values is collected into memory and sorted (default 1M). */
  collectLimit?: number;
}

const DEFAULT_MEMORY_LIMIT = 1 << 20;
const DEFAULT_SELECT_BUCKETS = 1 << 16;
const DEFAULT_COLLECT_LIMIT = 1 << 20;
/** Below this many values, sorting them all beats a counting pass followed by a collecting pass. */
const DIRECT_SORT_LIMIT = 1 << 16;
const INITIAL_CAPACITY = 1 << 14;

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
 * Exact min/max/mean/median/p95/histogram over an unbounded stream of numbers in near-constant memory.
 * ("Exact" for the mean: the exact sum divided by n, correctly rounded.)
 *
 * Values are kept in a Float64Array up to `memoryLimit`; each time it fills up it is appended to a temp
 * file, so memory does not grow with the row count. While every value so far is the same (a rate of a column by
 * itself is always 1), full buffers are only counted, not spilled: the file is written once a different value
 * arrives, so the spill never exceeds 8 bytes per value (lib/rates/spill.ts) and a constant stream spills nothing.
 * Running out of space while spilling throws a SpillSpaceError. `finish` streams the values back (file, then memory)
 * a few times: once for the histogram, the exact sum and a 65536-bucket counting histogram, then to collect
 * the few values in the buckets that hold the wanted ranks. The temp file is removed by `finish` and by
 * `dispose`; callers must call `dispose()` on their error path.
 */
export class RateStatsAccumulator {
  private readonly memoryLimit: number;
  private readonly tmpDir: string;
  private readonly selectBuckets: number;
  private readonly collectLimit: number;

  private buf: Float64Array;
  private len = 0;
  private n = 0;
  private min = Infinity;
  private max = -Infinity;

  private readonly spill: SpillFile;
  /** Values equal to `constantValue` (Object.is) counted instead of spilled; 0 once anything was spilled. */
  private constantCount = 0;
  private constantValue = 0;
  private disposed = false;

  constructor(options: RateStatsAccumulatorOptions = {}) {
    this.memoryLimit = positiveInt(options.memoryLimit ?? DEFAULT_MEMORY_LIMIT, 'memoryLimit');
    this.tmpDir = options.tmpDir ?? tmpdir();
    this.spill = new SpillFile(this.tmpDir);
    this.selectBuckets = positiveInt(options.selectBuckets ?? DEFAULT_SELECT_BUCKETS, 'selectBuckets');
    if (this.selectBuckets < 2) throw new RangeError('selectBuckets must be at least 2');
    this.collectLimit = positiveInt(options.collectLimit ?? DEFAULT_COLLECT_LIMIT, 'collectLimit');
    this.buf = new Float64Array(Math.min(INITIAL_CAPACITY, this.memoryLimit));
  }

  /** Number of values added so far. */
  get count(): number {
    return this.n;
  }

  /** Path of the spill file while one exists (tests use it to check clean-up). */
  get spillPath(): string | null {
    return this.spill.path;
  }

  /** `value` must be finite. */
  add(value: number): void {
    if (this.len === this.buf.length) this.makeRoom();
    this.buf[this.len++] = value;
    this.n++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  async finish(bins: number): Promise<RateStats> {
    try {
      if (this.disposed) throw new Error('RateStatsAccumulator used after finish/dispose');
      if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
      if (this.n === 0) throw new Error('RateStatsAccumulator.finish: no values were added');
      if (this.n >= 2 ** 32) throw new RangeError('RateStatsAccumulator: more than 2^32 values');
      const { n, min, max } = this;
      const edges = histogramEdges(min, max, bins);
      const counts = new Float64Array(bins);
      const sum = new ExactSum();

      const qs = [0.5, 0.95];
      const ranks = [...new Set(qs.flatMap((q) => [quantilePosition(n, q).lo, quantilePosition(n, q).hi]))].sort((a, b) => a - b);
      const byRank = await this.selectRanks(ranks, edges, counts, sum);
      const at = (rank: number): number => {
        const v = byRank.get(rank);
        if (v === undefined) throw new Error(`internal: rank ${rank} was not selected`);
        return v;
      };
      const [median, p95] = qs.map((q) => {
        const { lo, hi, t } = quantilePosition(n, q);
        return lerp(at(lo), at(hi), t);
      }) as [number, number];
      return { min, max, mean: sum.mean(n), median, p95, histogram: { edges, counts: Array.from(counts) } };
    } finally {
      this.dispose();
    }
  }

  /** Removes the spill file and drops the buffer. Safe to call more than once. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.buf = new Float64Array(0);
    this.len = 0;
    this.spill.remove();
  }

  private makeRoom(): void {
    if (this.disposed) throw new Error('RateStatsAccumulator used after finish/dispose');
    if (this.buf.length < this.memoryLimit) {
      const bigger = new Float64Array(Math.min(this.buf.length * 2, this.memoryLimit));
      bigger.set(this.buf);
      this.buf = bigger;
      return;
    }
    if (!this.spill.started && this.bufferContinuesConstantRun()) {
      this.constantCount += this.len;
      this.constantValue = this.buf[0] as number;
      this.len = 0;
      return;
    }
    if (this.constantCount > 0) {
      // The run of equal values ends here: it goes to the file first, as the values it stands for.
      const block = new Float64Array(Math.min(this.constantCount, this.memoryLimit)).fill(this.constantValue);
      while (this.constantCount > 0) {
        const count = Math.min(block.length, this.constantCount);
        this.spill.write(block.subarray(0, count));
        this.constantCount -= count;
      }
    }
    this.spill.write(this.buf.subarray(0, this.len));
    this.len = 0;
  }

  /** Whether the full buffer holds only the value of the run counted so far (or starts one). */
  private bufferContinuesConstantRun(): boolean {
    // Every value lies in [min, max]: unequal extremes rule a run out without a scan.
    if (this.min !== this.max) return false;
    const first = this.buf[0] as number;
    if (this.constantCount > 0 && !Object.is(first, this.constantValue)) return false;
    // min === max still lets 0 and -0 mix; they are kept apart, as the values are.
    if (first === 0) {
      for (let i = 0; i < this.len; i++) if (!Object.is(this.buf[i], first)) return false;
    }
    return true;
  }

  /** Calls `visit` with every value added, in blocks: the counted run, the spilled ones, then the in-memory ones. */
  private async forEachBlock(visit: (values: Float64Array) => void): Promise<void> {
    if (this.constantCount > 0) {
      const block = new Float64Array(Math.min(this.constantCount, this.memoryLimit)).fill(this.constantValue);
      for (let left = this.constantCount; left > 0; left -= block.length) visit(block.subarray(0, Math.min(left, block.length)));
    }
    await this.spill.forEachBlock(this.memoryLimit, visit);
    if (this.len > 0) visit(this.buf.subarray(0, this.len));
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
  private async selectRanks(ranks: number[], edges: number[], counts: Float64Array, sum: ExactSum): Promise<Map<number, number>> {
    const result = new Map<number, number>();
    const B = this.selectBuckets;
    const { n, min, max } = this;
    const root: Cell = { chain: [], lo: min, hi: max, exact: true, below: 0, count: n, ranks };
    const hist = new Histogram(edges, counts);
    const rootScale = bucketScale(min, max, B);
    let pending: Cell[] = [];

    if (min === max) {
      for (const r of ranks) result.set(r, min);
      await this.forEachBlock((values) => firstPass(values, hist, sum, null));
    } else if (n <= Math.min(DIRECT_SORT_LIMIT, this.collectLimit) || rootScale === null) {
      // Few values (or a range too narrow to split): sort them all.
      const all = new Float64Array(n);
      let len = 0;
      await this.forEachBlock((values) => {
        firstPass(values, hist, sum, null);
        all.set(values, len);
        len += values.length;
      });
      all.sort();
      for (const r of ranks) result.set(r, all[r] as number);
    } else {
      const rootCounts = new Uint32Array(B);
      const root0: RootCount = { lo: min, scale: rootScale, buckets: B, counts: rootCounts };
      await this.forEachBlock((values) => firstPass(values, hist, sum, root0));
      pending = narrow(root, rootScale, B, rootCounts, null, null);
    }

    while (pending.length > 0) {
      const splits: Split[] = [];
      const collects: Collect[] = [];
      for (const cell of pending) {
        if (cell.exact && cell.lo === cell.hi) {
          for (const r of cell.ranks) result.set(r, cell.lo);
          continue;
        }
        const scale = bucketScale(cell.lo, cell.hi, B);
        // An unsplittable cell (range too narrow for the arithmetic) is collected whatever its size.
        if (cell.count <= this.collectLimit || scale === null) {
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
      if (splits.length === 0 && collects.length === 0) break;

      // Every pending cell lies inside one of the root's buckets, so one bucket computation per value
      // rules out nearly all values before any of the cells' own filters run.
      const wantedRoot = new Uint8Array(B);
      for (const x of [...splits, ...collects]) wantedRoot[(x.cell.chain[0] as Level).k] = 1;
      await this.forEachBlock((values) => {
        for (let i = 0; i < values.length; i++) {
          const v = values[i] as number;
          if (wantedRoot[bucketOf(v, min, rootScale as number, B)] === 0) continue;
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
      pending = next;
    }
    return result;
  }
}

/** The cells (one per bucket that holds wanted ranks) after a counting pass over `cell`. */
function narrow(cell: Cell, scale: number, B: number, counts: ArrayLike<number>, mins: Float64Array | null, maxs: Float64Array | null): Cell[] {
  const out: Cell[] = [];
  let below = cell.below;
  let ri = 0;
  for (let k = 0; k < B && ri < cell.ranks.length; k++) {
    const cnt = counts[k] as number;
    const inBucket: number[] = [];
    while (ri < cell.ranks.length && (cell.ranks[ri] as number) < below + cnt) inBucket.push(cell.ranks[ri++] as number);
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


function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}
