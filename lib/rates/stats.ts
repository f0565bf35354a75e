import { randomUUID } from 'node:crypto';
import { closeSync, openSync, read, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { F64, HI, LO, U32 } from './float-bits.ts';
import { isOutOfSpace, SpillSpaceError } from './spill.ts';

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

  private spillFd: number | null = null;
  private spillFile: string | null = null;
  private spilledValues = 0;
  /** Values equal to `constantValue` (Object.is) counted instead of spilled; 0 once anything was spilled. */
  private constantCount = 0;
  private constantValue = 0;
  private disposed = false;

  constructor(options: RateStatsAccumulatorOptions = {}) {
    this.memoryLimit = positiveInt(options.memoryLimit ?? DEFAULT_MEMORY_LIMIT, 'memoryLimit');
    this.tmpDir = options.tmpDir ?? tmpdir();
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
    return this.spillFile;
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
    if (this.spillFd !== null) {
      try {
        closeSync(this.spillFd);
      } catch {
        // Already closed or never fully opened; the unlink below is what matters.
      }
      this.spillFd = null;
    }
    if (this.spillFile !== null) {
      try {
        unlinkSync(this.spillFile);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      this.spillFile = null;
    }
  }

  private makeRoom(): void {
    if (this.disposed) throw new Error('RateStatsAccumulator used after finish/dispose');
    if (this.buf.length < this.memoryLimit) {
      const bigger = new Float64Array(Math.min(this.buf.length * 2, this.memoryLimit));
      bigger.set(this.buf);
      this.buf = bigger;
      return;
    }
    if (this.spillFd === null && this.bufferContinuesConstantRun()) {
      this.constantCount += this.len;
      this.constantValue = this.buf[0] as number;
      this.len = 0;
      return;
    }
    try {
      if (this.spillFd === null) {
        const file = join(this.tmpDir, `rates-${process.pid}-${randomUUID()}.f64`);
        // 'wx+' refuses to reuse an existing path, so we never clobber another job's file.
        this.spillFd = openSync(file, 'wx+', 0o600);
        this.spillFile = file;
      }
      if (this.constantCount > 0) {
        // The run of equal values ends here: it goes to the file first, as the values it stands for.
        const block = new Float64Array(Math.min(this.constantCount, this.memoryLimit)).fill(this.constantValue);
        while (this.constantCount > 0) {
          const count = Math.min(block.length, this.constantCount);
          this.writeSpill(block.subarray(0, count));
          this.constantCount -= count;
        }
      }
      this.writeSpill(this.buf.subarray(0, this.len));
    } catch (error) {
      if (isOutOfSpace(error)) throw new SpillSpaceError(this.tmpDir, this.spilledValues * 8, error);
      throw error;
    }
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

  /** Appends `values` to the spill file. */
  private writeSpill(values: Float64Array): void {
    // Synchronous on purpose: add() stays synchronous for the hot loop, and an 8 MB write into the page
    // cache takes a few ms once per million rows.
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.length * 8);
    let done = 0;
    while (done < bytes.length) {
      done += writeSync(this.spillFd as number, bytes, done, bytes.length - done, this.spilledValues * 8 + done);
    }
    this.spilledValues += values.length;
  }

  /** Calls `visit` with every value added, in blocks: the counted run, the spilled ones, then the in-memory ones. */
  private async forEachBlock(visit: (values: Float64Array) => void): Promise<void> {
    if (this.constantCount > 0) {
      const block = new Float64Array(Math.min(this.constantCount, this.memoryLimit)).fill(this.constantValue);
      for (let left = this.constantCount; left > 0; left -= block.length) visit(block.subarray(0, Math.min(left, block.length)));
    }
    if (this.spilledValues > 0 && this.spillFd !== null) {
      const fd = this.spillFd;
      const block = new Float64Array(Math.min(this.memoryLimit, this.spilledValues));
      const bytes = new Uint8Array(block.buffer);
      const total = this.spilledValues * 8;
      let pos = 0;
      while (pos < total) {
        const want = Math.min(bytes.length, total - pos);
        let got = 0;
        while (got < want) {
          const r = await readAt(fd, bytes, got, want - got, pos + got);
          if (r === 0) throw new Error(`spill file ${this.spillFile ?? ''} is shorter than expected`);
          got += r;
        }
        visit(block.subarray(0, want / 8));
        pos += want;
      }
    }
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

/** Values added between two flushes of the per-exponent accumulators, keeping every bin below 2^53. */
const EXACT_FLUSH_EVERY = 1 << 25;
/** Exponents from here up (values >= 2^600) are summed scaled by 2^-BIG_SHIFT so nothing overflows. */
const BIG_EXPONENT = 1075 + 600;
const BIG_SHIFT = 700;

/**
 * Exact sum of many doubles. Each value is m * 2^(E-1075) with an integer m < 2^53; m is split into its
 * high 27 and low 26 bits, which are added into integer-valued accumulators per exponent E (see
 * firstPass). Those stay exact for 2^25 additions, after which (and at the end) they are folded into
 * Shewchuk partials. About as cheap per value as a compensated sum, but exact.
 */
export class ExactSum {
  readonly hiAcc = new Float64Array(2048);
  readonly loAcc = new Float64Array(2048);
  private pendingAdds = 0;
  private partials: number[] = [];
  private bigPartials: number[] = [];

  /** How many values may still be accumulated before a flush; flushes first if none. */
  room(): number {
    if (this.pendingAdds >= EXACT_FLUSH_EVERY) this.flush();
    return EXACT_FLUSH_EVERY - this.pendingAdds;
  }

  added(count: number): void {
    this.pendingAdds += count;
  }

  /**
   * The sum divided by n, correctly rounded (up to a final-step residual correction), so that e.g. the
   * mean of many copies of one value is that value. The sum only loses exactness beyond ~1e180.
   */
  mean(n: number): number {
    this.flush();
    if (this.bigPartials.length > 0) {
      return (sumPartials(this.bigPartials) / n) * 2 ** BIG_SHIFT + sumPartials(this.partials) / n;
    }
    const q = sumPartials(this.partials) / n;
    if (!Number.isFinite(q) || q === 0) return q;
    // residual = sum - q*n, exactly (Dekker's product of q and n), then one correction step.
    const [ph, pl] = twoProduct(q, n);
    const residual = [...this.partials];
    addPartial(residual, -ph);
    addPartial(residual, -pl);
    return q + sumPartials(residual) / n;
  }

  private flush(): void {
    for (let E = 1; E < 2048; E++) {
      const h = this.hiAcc[E] as number;
      const l = this.loAcc[E] as number;
      if (h === 0 && l === 0) continue;
      // Integer accumulators times powers of two are exact doubles; huge exponents are kept scaled down
      // (separately) so that the terms themselves cannot overflow.
      const big = E >= BIG_EXPONENT;
      const target = big ? this.bigPartials : this.partials;
      const scale = 2 ** (E - 1075 - (big ? BIG_SHIFT : 0));
      if (h !== 0) addPartial(target, h * 2 ** 26 * scale);
      if (l !== 0) addPartial(target, l * scale);
    }
    this.hiAcc.fill(0);
    this.loAcc.fill(0);
    this.pendingAdds = 0;
  }
}

function twoProduct(a: number, b: number): [number, number] {
  const p = a * b;
  const split = (x: number): [number, number] => {
    const c = 134217729 * x;
    const h = c - (c - x);
    return [h, x - h];
  };
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  return [p, ah * bh - p + ah * bl + al * bh + al * bl];
}

/** Shewchuk's exact addition into non-overlapping partials (as in Python's math.fsum). */
function addPartial(partials: number[], x: number): void {
  let i = 0;
  for (let j = 0; j < partials.length; j++) {
    let y = partials[j] as number;
    if (Math.abs(x) < Math.abs(y)) {
      const t = x;
      x = y;
      y = t;
    }
    const hi = x + y;
    const lo = y - (hi - x);
    if (lo !== 0) partials[i++] = lo;
    x = hi;
  }
  partials.length = i;
  partials.push(x);
}

/** Correctly rounded value of the sum of non-overlapping partials (fsum's final step, with its half-way fix). */
function sumPartials(partials: number[]): number {
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n] as number;
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n] as number;
    hi = x + y;
    const yr = hi - x;
    lo = y - yr;
    if (lo !== 0) break;
  }
  if (n > 0 && ((lo < 0 && (partials[n - 1] as number) < 0) || (lo > 0 && (partials[n - 1] as number) > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

/** Linear interpolation between closest ranks (numpy/pandas default): position (n-1)*q. */
export function quantilePosition(n: number, q: number): { lo: number; hi: number; t: number } {
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  return { lo, hi: Math.min(lo + 1, n - 1), t: pos - lo };
}

/** numpy's `_lerp`: interpolating from the nearer end keeps the result monotone and within [a, b]. */
export function lerp(a: number, b: number, t: number): number {
  const d = b - a;
  return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

/** Equal-width bin edges from min to max; a degenerate range gets a unit-wide window around the value. */
export function histogramEdges(min: number, max: number, bins: number): number[] {
  let lo = min;
  let hi = max;
  if (lo === hi) {
    // ±0.5 disappears into rounding for huge magnitudes, so widen relative to the value there.
    const half = Math.max(0.5, Math.abs(lo) * 1e-9);
    lo -= half;
    hi += half;
  }
  let step = (hi - lo) / bins;
  if (step === Infinity) step = hi / bins - lo / bins;
  const edges = new Array<number>(bins + 1);
  for (let i = 0; i < bins; i++) edges[i] = Math.min(lo + step * i, hi);
  edges[bins] = hi;
  return edges;
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

function readAt(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead)));
  });
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}
