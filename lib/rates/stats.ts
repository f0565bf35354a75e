import { randomUUID } from 'node:crypto';
import { closeSync, openSync, read, unlinkSync, writeSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** A set of values (those matching every level of `chain`) known to hold the wanted ranks. */
interface Cell {
  chain: Level[];
  lo: number;
  hi: number;
  /** Number of values, over all values, that sort before this cell. */
  below: number;
  count: number;
  ranks: number[];
}

type BlockVisitor = (values: Float64Array) => void;

/**
 * Exact min/max/mean/median/p95/histogram over an unbounded stream of numbers in near-constant memory.
 * "Exact" for the mean means the correctly rounded sum divided by n.
 *
 * Values are kept in a Float64Array up to `memoryLimit`; each time it fills up it is appended to a temp
 * file, so memory does not grow with the row count. `finish` streams the values back (memory buffer and
 * file) a few times: once for the histogram and a fine counting histogram, then to collect the few values
 * in the buckets that hold the wanted ranks. The temp file is removed by `finish` and by `dispose`;
 * callers must call `dispose()` on their error path.
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
      if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
      if (this.n === 0) throw new Error('RateStatsAccumulator.finish: no values were added');
      const n = this.n;
      const { min, max } = this;
      const sum = new ExactSum();

      const edges = histogramEdges(min, max, bins);
      const counts = new Float64Array(bins);
      const countBins: BlockVisitor = (values) => {
        const lo = edges[0] as number;
        const hi = edges[bins] as number;
        let step = (hi - lo) / bins;
        if (step === Infinity) step = hi / bins - lo / bins;
        const inv = 1 / step;
        const last = bins - 1;
        for (let i = 0; i < values.length; i++) {
          const v = values[i] as number;
          let b = Math.floor((v - lo) * inv);
          if (!(b >= 0)) b = 0;
          else if (b > last) b = last;
          // The estimate can land a bin off near an edge; the published edges are the truth.
          while (b < last && v >= (edges[b + 1] as number)) b++;
          while (b > 0 && v < (edges[b] as number)) b--;
          counts[b] = (counts[b] as number) + 1;
        }
      };

      const qs = [0.5, 0.95];
      const wanted = new Set<number>();
      for (const q of qs) {
        const { lo, hi } = quantilePosition(n, q);
        wanted.add(lo);
        wanted.add(hi);
      }
      const byRank = await this.selectRanks([...wanted].sort((a, b) => a - b), (values) => {
        countBins(values);
        sum.addAll(values);
      });
      const mean = sum.mean(n);
      const at = (rank: number): number => {
        const v = byRank.get(rank);
        if (v === undefined) throw new Error(`internal: rank ${rank} was not selected`);
        return v;
      };
      const [median, p95] = qs.map((q) => {
        const { lo, hi, t } = quantilePosition(n, q);
        return lerp(at(lo), at(hi), t);
      }) as [number, number];

      return { min, max, mean, median, p95, histogram: { edges, counts: Array.from(counts) } };
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
    if (this.spillFd === null) {
      const file = join(this.tmpDir, `rates-${process.pid}-${randomUUID()}.f64`);
      // 'wx+' refuses to reuse an existing path, so we never clobber another job's file.
      this.spillFd = openSync(file, 'wx+', 0o600);
      this.spillFile = file;
    }
    // Synchronous on purpose: add() stays synchronous for the hot loop, and an 8 MB write into the page
    // cache takes a few ms once per million rows.
    const bytes = new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.len * 8);
    let done = 0;
    while (done < bytes.length) {
      done += writeSync(this.spillFd, bytes, done, bytes.length - done, this.spilledValues * 8 + done);
    }
    this.spilledValues += this.len;
    this.len = 0;
  }

  /** Calls `visit` with every value added, in blocks: first the spilled ones, then the in-memory ones. */
  private async forEachBlock(visit: BlockVisitor): Promise<void> {
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
   * Exact values at the given 0-based ranks of the sorted values. Each round is one pass over the data:
   * cells that are still large get a counting histogram (and are narrowed to the bucket holding each rank),
   * small cells are collected and sorted. `firstPass` rides along on the first pass.
   */
  private async selectRanks(ranks: number[], firstPass: BlockVisitor): Promise<Map<number, number>> {
    const result = new Map<number, number>();
    const B = this.selectBuckets;
    let pending: Cell[] = [{ chain: [], lo: this.min, hi: this.max, below: 0, count: this.n, ranks }];
    let first = true;

    while (pending.length > 0 || first) {
      const splits: Split[] = [];
      const collects: Collect[] = [];
      for (const cell of pending) {
        if (cell.lo === cell.hi) {
          for (const r of cell.ranks) result.set(r, cell.lo);
          continue;
        }
        const scale = bucketScale(cell.lo, cell.hi, B);
        const limit = cell.chain.length === 0 ? Math.min(DIRECT_SORT_LIMIT, this.collectLimit) : this.collectLimit;
        // An unsplittable cell (range too narrow for the arithmetic) is collected whatever its size.
        if (cell.count <= limit || scale === null) {
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
      if (splits.length === 0 && collects.length === 0 && !first) break;

      // Every cell below the root shares the root's first level, so one bucket computation per value
      // rules out all values outside the few buckets of interest.
      let rootLevel: Level | null = null;
      const wantedRoot = new Uint8Array(B);
      for (const cell of [...splits.map((x) => x.cell), ...collects.map((x) => x.cell)]) {
        const l0 = cell.chain[0];
        if (l0 !== undefined) {
          rootLevel = l0;
          wantedRoot[l0.k] = 1;
        }
      }
      const rootSplits = splits.filter((x) => x.cell.chain.length === 0);
      const deepSplits = splits.filter((x) => x.cell.chain.length > 0);
      const rootCollects = collects.filter((x) => x.cell.chain.length === 0);
      const deepCollects = collects.filter((x) => x.cell.chain.length > 0);

      const withFirst = first;
      first = false;
      await this.forEachBlock((values) => {
        if (withFirst) firstPass(values);
        for (const sp of rootSplits) countIntoBuckets(values, sp, B);
        for (const c of rootCollects) {
          c.values.set(values, c.len);
          c.len += values.length;
        }
        if (rootLevel === null) return;
        const { lo: rlo, scale: rscale } = rootLevel;
        for (let i = 0; i < values.length; i++) {
          const v = values[i] as number;
          const k0 = bucketOf(v, rlo, rscale, B);
          if (wantedRoot[k0] === 0) continue;
          for (const sp of deepSplits) {
            const { chain, lo } = sp.cell;
            if ((chain[0] as Level).k !== k0 || !inChain(v, chain, 1)) continue;
            const k = bucketOf(v, lo, sp.scale, B);
            sp.counts[k] = (sp.counts[k] as number) + 1;
            if (v < (sp.mins[k] as number)) sp.mins[k] = v;
            if (v > (sp.maxs[k] as number)) sp.maxs[k] = v;
          }
          for (const c of deepCollects) {
            if ((c.cell.chain[0] as Level).k === k0 && inChain(v, c.cell.chain, 1)) c.values[c.len++] = v;
          }
        }
      });

      const next: Cell[] = [];
      for (const c of collects) {
        if (c.len !== c.cell.count) throw new Error(`internal: collected ${c.len} values, expected ${c.cell.count}`);
        c.values.sort();
        for (const r of c.cell.ranks) result.set(r, c.values[r - c.cell.below] as number);
      }
      for (const sp of splits) {
        const { cell, scale, counts, mins, maxs } = sp;
        let below = cell.below;
        let ri = 0;
        const ranksSorted = [...cell.ranks].sort((a, b) => a - b);
        for (let k = 0; k < B && ri < ranksSorted.length; k++) {
          const cnt = counts[k] as number;
          const inBucket: number[] = [];
          while (ri < ranksSorted.length && (ranksSorted[ri] as number) < below + cnt) inBucket.push(ranksSorted[ri++] as number);
          if (inBucket.length > 0) {
            next.push({
              chain: [...cell.chain, { lo: cell.lo, scale, buckets: B, k }],
              lo: mins[k] as number,
              hi: maxs[k] as number,
              below,
              count: cnt,
              ranks: inBucket,
            });
          }
          below += cnt;
        }
      }
      pending = next;
    }
    return result;
  }
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

function countIntoBuckets(values: Float64Array, sp: Split, B: number): void {
  const { lo } = sp.cell;
  const { scale, counts, mins, maxs } = sp;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    const k = bucketOf(v, lo, scale, B);
    counts[k] = (counts[k] as number) + 1;
    if (v < (mins[k] as number)) mins[k] = v;
    if (v > (maxs[k] as number)) maxs[k] = v;
  }
}

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const HI = endianness() === 'LE' ? 1 : 0;
const LO = 1 - HI;
/** Values added between two flushes of the per-exponent accumulators, keeping every bin below 2^53. */
const EXACT_FLUSH_EVERY = 1 << 25;
/** Exponents from here up (values >= 2^600) are summed scaled by 2^-BIG_SHIFT so nothing overflows. */
const BIG_EXPONENT = 1075 + 600;
const BIG_SHIFT = 700;

/**
 * Correctly rounded sum of many doubles. Each value is m * 2^(E-1075) with an integer m < 2^53; m is split
 * into 27 high and 26 low bits, which are added into integer-valued accumulators per exponent E. Those
 * stay exact for 2^25 additions, after which (and at the end) they are folded into Shewchuk partials.
 * About as cheap per value as a compensated sum, but exact.
 */
export class ExactSum {
  private readonly hi = new Float64Array(2048);
  private readonly lo = new Float64Array(2048);
  private pendingAdds = 0;
  private partials: number[] = [];
  private bigPartials: number[] = [];

  addAll(values: Float64Array): void {
    for (let start = 0; start < values.length; ) {
      if (this.pendingAdds >= EXACT_FLUSH_EVERY) this.flush();
      const end = Math.min(values.length, start + (EXACT_FLUSH_EVERY - this.pendingAdds));
      const { hi, lo } = this;
      for (let i = start; i < end; i++) {
        F64[0] = values[i] as number;
        const h = U32[HI] as number;
        const l = U32[LO] as number;
        const e = (h >>> 20) & 0x7ff;
        const mHigh = (h & 0xfffff) + (e === 0 ? 0 : 0x100000);
        const top = mHigh * 64 + (l >>> 26);
        const bottom = l & 0x3ffffff;
        const E = e === 0 ? 1 : e;
        if (h >>> 31 === 0) {
          hi[E] = (hi[E] as number) + top;
          lo[E] = (lo[E] as number) + bottom;
        } else {
          hi[E] = (hi[E] as number) - top;
          lo[E] = (lo[E] as number) - bottom;
        }
      }
      this.pendingAdds += end - start;
      start = end;
    }
  }

  /** Correctly rounded sum / n (the sum is exact unless it exceeds ~1e180, where only the mean is kept finite). */
  mean(n: number): number {
    this.flush();
    const small = sumPartials(this.partials);
    if (this.bigPartials.length === 0) return small / n;
    return (sumPartials(this.bigPartials) / n) * 2 ** BIG_SHIFT + small / n;
  }

  private flush(): void {
    for (let E = 1; E < 2048; E++) {
      const h = this.hi[E] as number;
      const l = this.lo[E] as number;
      if (h === 0 && l === 0) continue;
      // Integer accumulators times powers of two are exact doubles; huge exponents are kept scaled down
      // (separately) so that the terms themselves cannot overflow.
      const big = E >= BIG_EXPONENT;
      const target = big ? this.bigPartials : this.partials;
      const scale = 2 ** (E - 1075 - (big ? BIG_SHIFT : 0));
      if (h !== 0) addPartial(target, h * 2 ** 26 * scale);
      if (l !== 0) addPartial(target, l * scale);
    }
    this.hi.fill(0);
    this.lo.fill(0);
    this.pendingAdds = 0;
  }
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

function inChain(v: number, chain: Level[], from: number): boolean {
  for (let i = from; i < chain.length; i++) {
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
