/**
 * Statistics of a parallel rates run — min, max, mean, exact median and p95, and the chart histogram — identical
 * bit for bit to RateStatsAccumulator.finish(bins) on the same values in the same order, when the values are
 * held in many places (one little-endian Float64 object per chunk, in row order).
 *
 * It runs the single path's rank search (rank-search.ts: RankSearch) as ROUNDS. The coordinator (`StatsRounds`)
 * turns each step of the search into a JSON plan; every chunk answers it from its own values in one pass
 * (`answerStatsPlan`, the same `answerFirst` / `answerRefine` the single path runs over its spill file); the
 * coordinator merges the answers — counts added, per-bucket min/max taken in chunk order (so ties between 0 and
 * -0 resolve as the single path's one pass does), collected values concatenated — and hands them to the search,
 * which plans the next round. Round 0 fuses the histogram and the exact sum (ExactSum partials, merged exactly)
 * into the root counting pass, as the single path's first pass does.
 *
 * Limits (DISTRIBUTED_LIMITS): 16,384 buckets per counting pass and cells of at most 32,768 values collected.
 * They bound every answer (at most 4 cells are pending: the ranks either side of the median and of the p95):
 * - round 0: histogram (bins × 8 B) + partials (< 1 KB) + root counts, sparse (≤ 16,384 × 8 B = 128 KB);
 * - split: ≤ 4 cells × 16,384 buckets × (index, count, min, max = 24 B) = 1.5 MB;
 * - collect: ≤ 4 cells × 32,768 values × (value + run count = 12 B) = 1.5 MB;
 * base64 adds a third: under 2.1 MB per answer in the worst case, against Lambda's 6 MB reply. The single
 * path's defaults (65,536 buckets, 1M collected) could reach 8 MB per collected cell. The one exception is a
 * cell too narrow for the bucket arithmetic (all its values within ~1e-300 of each other, i.e. near zero), which
 * the single path also collects whatever its size: a chunk sends its distinct values there, run-length coded.
 * With other limits than the single path's, results are the same bits except, possibly, the sign of a zero
 * median or p95 when the data holds both 0 and -0 (which JSON output does not show): a cell of only zeros takes
 * its first zero's sign, a collected one sorts -0 first. Tests run both paths with equal limits.
 *
 * Cost for a 10 GB CSV (~40 B/row → 250M rates → 2 GB of Float64 over 160 chunks of 64 MiB, 12.5 MB each):
 * - Round 0 reads every values object (2 GB; 12.5 MB per worker) and returns ≤ 175 KB per chunk (28 MB in all,
 *   far less for clustered rates). Spread data then holds ~15,000 values per root bucket (≤ 32,768), so
 * - round 1 collects: again 2 GB read, ≤ 2 MB returned in all. Typically 2 rounds; clustered data adds a split
 *   round per 14 bits of spread between the wanted values' neighbours (rates in [0, 1e3] down to 1e-16 relative
 *   spacing: ≤ 5 splits, so ≤ 7 rounds); a bucket of equal values ends without collecting.
 * - Per round, per worker: 12.5 MB at the team README's ~75 MB/s per function ≈ 0.17 s, the pass ≈ 50 ms
 *   (finish() over 5M values took ~150 ms here, all passes: ~30 ns/value), plus invoke and GET latency:
 *   ~0.25–0.5 s wall per round with 160 workers at once. At 1,769 MB (one vCPU), 160 × 0.25 s × 1.77 GB ≈ 71 GB-s ≈ $0.0012 per round (x86,
 *   $0.0000166667/GB-s), + 160 invokes ($0.00003) + 160 GETs ($0.00006): ≈ $0.0013 per round, ≈ $0.003 typical.
 *   S3 → Lambda transfer in one region is free.
 */
import { ExactSum } from '../exact-sum.ts';
import { histogramEdges } from '../quantile.ts';
import { answerFirst, answerRefine, type ForEachBlock } from '../rank-answer.ts';
import { type FirstPlan, type Level, RankSearch, type RefinePlan, type SelectLimits } from '../rank-search.ts';
import { quantilesFromRanks, type RateStats, wantedRanks } from '../stats.ts';
import {
  addSparse,
  decodeF64,
  decodeU32,
  encodeRuns,
  encodeSplit,
  encodeSparse,
  expandRuns,
  type FirstAnswerWire,
  fromWire,
  type RefineAnswerWire,
  type RefinePlanWire,
  type StatsAnswer,
  type StatsPlan,
  statsAnswerSchema,
  statsPlanSchema,
  toWire,
} from './stats-wire.ts';

export const DISTRIBUTED_LIMITS: SelectLimits = { buckets: 1 << 14, collectLimit: 1 << 15 };

export interface StatsRoundsInput {
  /** Values over all chunks, and their min and max as the single path finds them (first of equals in row order). */
  n: number;
  min: number;
  max: number;
  bins: number;
  limits?: SelectLimits;
}

/** One chunk's values: how many, and a pass over them in row order (may be called once per round). */
export interface ChunkValues {
  count: number;
  forEachBlock: ForEachBlock;
}

export function chunkValuesOf(values: Float64Array): ChunkValues {
  return { count: values.length, forEachBlock: async (visit) => visit(values) };
}

/** The coordinator: plans rounds, merges the chunks' answers, gives the statistics once the search is over. */
export class StatsRounds {
  private readonly search: RankSearch;
  private readonly edges: number[];
  private readonly counts: Float64Array;
  private readonly sum = new ExactSum();
  private readonly limits: SelectLimits;
  private current: StatsPlan | null;
  private round = 0;

  constructor(private readonly input: StatsRoundsInput) {
    const { n, min, max, bins } = input;
    if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
    if (n >= 2 ** 32) throw new RangeError('StatsRounds: more than 2^32 values');
    if (!Number.isFinite(min) || !Number.isFinite(max) || !(min <= max))
      throw new RangeError(`min and max must be finite with min <= max, got ${min}, ${max}`);
    this.limits = input.limits ?? DISTRIBUTED_LIMITS;
    if (!Number.isInteger(this.limits.buckets) || this.limits.buckets < 2) throw new RangeError('buckets must be >= 2');
    if (!Number.isInteger(this.limits.collectLimit) || this.limits.collectLimit < 1)
      throw new RangeError('collectLimit must be >= 1');
    this.edges = histogramEdges(min, max, bins);
    this.counts = new Float64Array(bins);
    this.search = new RankSearch(n, min, max, wantedRanks(n), this.limits);
    this.current = firstPlanToWire(this.search.firstPlan(this.edges), input);
  }

  /** The plan every chunk must answer now (JSON); null once the statistics are known. */
  get plan(): StatsPlan | null {
    return this.current;
  }

  /** Rounds planned so far (the first included). */
  get rounds(): number {
    return this.round + (this.current === null ? 0 : 1);
  }

  /** Folds in every chunk's answer to `plan`, in chunk (row) order, and plans the next round. */
  merge(answers: readonly unknown[]): void {
    const plan = this.current;
    if (plan === null) throw new Error('StatsRounds.merge: the search is already over');
    const parsed = answers.map((a, i) => {
      const r = statsAnswerSchema.safeParse(a);
      if (!r.success) throw new Error(`chunk ${i}: not a statistics answer: ${r.error.message}`);
      if (r.data.kind !== plan.kind || r.data.round !== plan.round)
        throw new Error(
          `chunk ${i}: answered ${r.data.kind} round ${r.data.round}, expected ${plan.kind} ${plan.round}`,
        );
      return r.data;
    });
    if (plan.kind === 'first') this.mergeFirst(plan.root !== null, plan.collectAll, parsed as FirstAnswerWire[]);
    else this.mergeRefine(plan, parsed as RefineAnswerWire[]);
    this.round++;
    const next = this.search.nextPlan();
    this.current = next === null ? null : refinePlanToWire(next, this.round);
  }

  result(): RateStats {
    if (this.current !== null) throw new Error(`StatsRounds.result: round ${this.round} is still to be answered`);
    const { n, min, max } = this.input;
    const { median, p95 } = quantilesFromRanks(n, this.search.result);
    const histogram = { edges: this.edges, counts: Array.from(this.counts) };
    return { min, max, mean: this.sum.mean(n), median, p95, histogram };
  }

  private mergeFirst(counted: boolean, collectAll: boolean, answers: FirstAnswerWire[]): void {
    const { n } = this.input;
    const total = answers.reduce((s, a) => s + a.n, 0);
    if (total !== n) throw new Error(`the chunks hold ${total} values, expected ${n}`);
    const rootCounts = counted ? new Uint32Array(this.limits.buckets) : null;
    const all = collectAll ? { values: new Float64Array(n), len: 0 } : null;
    for (const [i, a] of answers.entries()) {
      if ((a.root === null) !== (rootCounts === null) || (a.all === null) !== (all === null))
        throw new Error(`chunk ${i}: its first answer does not match the plan (root counts or values missing)`);
      addSparse(this.counts, a.hist);
      this.sum.add(ExactSum.fromPartials(a.partials));
      if (rootCounts !== null && a.root !== null) addSparse(rootCounts, a.root);
      if (all !== null && a.all !== null) all.len = expandRuns(a.all, all.values, all.len);
    }
    const binned = this.counts.reduce((s, c) => s + c, 0);
    if (binned !== n) throw new Error(`the chunks binned ${binned} values, expected ${n}`);
    this.search.acceptFirst({ counts: this.counts, sum: this.sum, rootCounts, all });
  }

  private mergeRefine(plan: RefinePlanWire, answers: RefineAnswerWire[]): void {
    const B = plan.root.buckets;
    const splits = plan.splits.map(() => ({
      counts: new Float64Array(B),
      mins: new Float64Array(B).fill(Infinity),
      maxs: new Float64Array(B).fill(-Infinity),
    }));
    const collects = plan.collects.map((c) => ({ values: new Float64Array(c.count), len: 0 }));
    answers.forEach((a, i) => {
      if (a.splits.length !== splits.length || a.collects.length !== collects.length)
        throw new Error(`chunk ${i}: answered ${a.splits.length} splits and ${a.collects.length} collects`);
      a.splits.forEach((wire, s) => {
        const into = splits[s] as (typeof splits)[number];
        addSparse(into.counts, wire);
        const idx = decodeU32(wire.idx);
        const mins = decodeF64(wire.mins);
        const maxs = decodeF64(wire.maxs);
        if (mins.length !== idx.length || maxs.length !== idx.length)
          throw new Error(`chunk ${i}: split ${s} has mismatched mins/maxs`);
        // In chunk order, strictly smaller/greater only: the first of equal extremes (0 before -0) stays.
        for (let j = 0; j < idx.length; j++) {
          const k = idx[j] as number;
          if ((mins[j] as number) < (into.mins[k] as number)) into.mins[k] = mins[j] as number;
          if ((maxs[j] as number) > (into.maxs[k] as number)) into.maxs[k] = maxs[j] as number;
        }
      });
      a.collects.forEach((wire, c) => {
        const into = collects[c] as (typeof collects)[number];
        into.len = expandRuns(wire, into.values, into.len);
      });
    });
    this.search.acceptRefine({ splits, collects });
  }
}

/** A chunk's answer to a plan, from its own values, in one pass; small and JSON-serialisable. */
export async function answerStatsPlan(plan: unknown, values: ChunkValues): Promise<StatsAnswer> {
  const parsed = statsPlanSchema.safeParse(plan);
  if (!parsed.success) throw new Error(`not a statistics plan: ${parsed.error.message}`);
  const p = parsed.data;
  if (p.kind === 'first') {
    const local: FirstPlan = {
      edges: histogramEdges(fromWire(p.hist.min), fromWire(p.hist.max), p.hist.bins),
      root: p.root ? { ...p.root, lo: fromWire(p.root.lo) } : null,
      collectAll: p.collectAll,
    };
    const sum = new ExactSum();
    const counts = new Float64Array(local.edges.length - 1);
    const a = await answerFirst(local, values.forEachBlock, values.count, counts, sum);
    return {
      kind: 'first',
      round: 0,
      n: values.count,
      hist: encodeSparse(a.counts),
      partials: sum.partials(),
      root: a.rootCounts ? encodeSparse(a.rootCounts) : null,
      all: a.all ? encodeRuns(a.all.values.subarray(0, a.all.len)) : null,
    };
  }
  const local: RefinePlan = {
    root: { ...p.root, lo: fromWire(p.root.lo) },
    splits: p.splits.map((s) => ({ chain: s.chain.map(levelFromWire), lo: fromWire(s.lo), scale: s.scale })),
    collects: p.collects.map((c) => ({ chain: c.chain.map(levelFromWire), count: c.count })),
  };
  const a = await answerRefine(local, values.forEachBlock, values.count);
  return {
    kind: 'refine',
    round: p.round,
    splits: a.splits.map((s) => encodeSplit(s.counts, s.mins, s.maxs)),
    collects: a.collects.map((c) => encodeRuns(c.values.subarray(0, c.len))),
  };
}

function firstPlanToWire(plan: FirstPlan, { min, max, bins }: StatsRoundsInput): StatsPlan {
  return {
    kind: 'first',
    round: 0,
    hist: { min: toWire(min), max: toWire(max), bins },
    root: plan.root ? { ...plan.root, lo: toWire(plan.root.lo) } : null,
    collectAll: plan.collectAll,
  };
}

function refinePlanToWire(plan: RefinePlan, round: number): StatsPlan {
  const levels = (chain: Level[]) => chain.map((l) => ({ ...l, lo: toWire(l.lo) }));
  return {
    kind: 'refine',
    round,
    root: { ...plan.root, lo: toWire(plan.root.lo) },
    splits: plan.splits.map((s) => ({ chain: levels(s.chain), lo: toWire(s.lo), scale: s.scale })),
    collects: plan.collects.map((c) => ({ chain: levels(c.chain), count: c.count })),
  };
}

function levelFromWire(l: { lo: number | '-0'; scale: number; buckets: number; k: number }): Level {
  return { lo: fromWire(l.lo), scale: l.scale, buckets: l.buckets, k: l.k };
}
