/**
 * Exact quantiles over values that do not fit in memory: the rank search behind RateStatsAccumulator.finish
 * (stats.ts), with the histogram and the exact sum fused into its first pass over the values.
 *
 * The search is a sequence of ROUNDS. `RankSearch` (rank-search.ts) holds the state and plans each round as plain
 * data (a `FirstPlan`, then `RefinePlan`s); `answerFirst` / `answerRefine` (rank-answer.ts) apply a plan to a set
 * of values in one pass and give counts and collected values; the search folds that answer in and plans the next
 * round. This file is the single path's driver. The single path
 * (`selectRanks`) answers every plan from its one source; the parallel run (parallel/stats-rounds.ts) answers the
 * same plans in every chunk, serialises the answers and merges them before handing them to the same search.
 */
import type { ExactSum } from './exact-sum.ts';
import { answerFirst, answerRefine, type ForEachBlock } from './rank-answer.ts';
import { RankSearch, type SelectLimits } from './rank-search.ts';

/** The values to search: their count and extremes, and a way to read them all, in blocks, as often as needed. */
export interface RankSource {
  n: number;
  min: number;
  max: number;
  forEachBlock(visit: (values: Float64Array) => void): Promise<void>;
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
