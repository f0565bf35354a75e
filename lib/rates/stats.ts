import { tmpdir } from 'node:os';
import { ExactSum } from './exact-sum.ts';
import { histogramEdges, lerp, quantilePosition } from './quantile.ts';
import { selectRanks } from './rank-select.ts';
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
const INITIAL_CAPACITY = 1 << 14;

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

  /**
   * Adds every value of `values` (all finite), in order, as `add` would; `min` and `max` are theirs (the row kernel
   * finds them as it writes the values). `values` may be reused afterwards.
   */
  addMany(values: Float64Array, min: number, max: number): void {
    // Taken in before the values are: makeRoom only concludes "all equal" from min === max, true of them too.
    if (min < this.min) this.min = min;
    if (max > this.max) this.max = max;
    for (let from = 0; from < values.length; ) {
      if (this.len === this.buf.length) this.makeRoom();
      const count = Math.min(values.length - from, this.buf.length - this.len);
      this.buf.set(values.subarray(from, from + count), this.len);
      this.len += count;
      this.n += count;
      from += count;
    }
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

      const ranks = wantedRanks(n);
      const source = { n, min, max, forEachBlock: (visit: (values: Float64Array) => void) => this.forEachBlock(visit) };
      const byRank = await selectRanks(source, ranks, edges, counts, sum, {
        buckets: this.selectBuckets,
        collectLimit: this.collectLimit,
      });
      const { median, p95 } = quantilesFromRanks(n, byRank);
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
      for (let left = this.constantCount; left > 0; left -= block.length)
        visit(block.subarray(0, Math.min(left, block.length)));
    }
    await this.spill.forEachBlock(this.memoryLimit, visit);
    if (this.len > 0) visit(this.buf.subarray(0, this.len));
  }
}

const QUANTILES = { median: 0.5, p95: 0.95 } as const;

/** The 0-based ranks whose values the median and p95 interpolate between, ascending, each once. */
export function wantedRanks(n: number): number[] {
  const qs = Object.values(QUANTILES);
  return [...new Set(qs.flatMap((q) => [quantilePosition(n, q).lo, quantilePosition(n, q).hi]))].sort((a, b) => a - b);
}

/** Median and p95 from the values at `wantedRanks(n)`, interpolated like numpy's default. */
export function quantilesFromRanks(n: number, byRank: ReadonlyMap<number, number>): { median: number; p95: number } {
  const at = (rank: number): number => {
    const v = byRank.get(rank);
    if (v === undefined) throw new Error(`internal: rank ${rank} was not selected`);
    return v;
  };
  const [median, p95] = [QUANTILES.median, QUANTILES.p95].map((q) => {
    const { lo, hi, t } = quantilePosition(n, q);
    return lerp(at(lo), at(hi), t);
  }) as [number, number];
  return { median, p95 };
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  return v;
}
