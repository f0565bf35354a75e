/**
 * A throwaway histogram drawn once when a container starts, so that the first run's chart does not pay for what
 * only the first render in a process pays (the font files read and measured, vega's and resvg's code compiled by the
 * JIT, the template's spec compiled and parsed): measured ~90 ms of CPU cold against ~50 ms once warm. Lambda runs
 * module initialisation before the first invocation (and gives it a full vCPU), so this moves cost out of a run.
 *
 * The drawing is shaped like a run's under the deployment's default options (same labels, bin count and tick
 * formats), so its compiled template is the one a default run reuses. It writes nothing and shares no state with a
 * run beyond those caches, which hold the same thing whoever fills them: a run's chart is the same with or without it.
 */
import type { RatesDefaults } from '../config.ts';
import { renderHistogram } from './chart.ts';
import { histogramInput } from './publish.ts';

/** A bell of counts under a million (so the y axis is formatted as a typical upload's) over typical county rates. */
function sampleStats(bins: number): { edges: number[]; counts: number[] } {
  const lo = 0.002;
  const width = 0.008 / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + width * i);
  const counts = Array.from({ length: bins }, (_, i) => {
    const z = (i + 0.5 - bins / 2) / (bins / 6);
    return Math.round(50_000 * Math.exp((-z * z) / 2));
  });
  return { edges, counts };
}

/**
 * Draws the sample histogram and says how long it took; a failure is reported to `onError` and otherwise ignored —
 * a container that cannot warm up still serves runs (whose own render reports the same fault, if it persists).
 */
export async function warmUpChart(defaults: RatesDefaults, onError: (error: unknown) => void): Promise<number | null> {
  try {
    const { edges, counts } = sampleStats(defaults.bins);
    const rows = counts.reduce((sum, count) => sum + count, 0);
    const input = histogramInput(
      { rateColumn: 'rate', rows, stats: { histogram: { edges, counts } } },
      defaults,
      'uploads/warm-up.csv',
    );
    return (await renderHistogram(input)).ms;
  } catch (error) {
    onError(error);
    return null;
  }
}
