/**
 * The rates function's container-start warm-up (chart-warmup.ts): it must never fail the container's start, and a
 * run's chart drawn after it must be the chart drawn without it (the generic path, compiled afresh).
 */
import { describe, expect, it, vi } from 'vitest';
import { buildHistogramSpec, installChartFonts, renderHistogram, renderVegaLite } from '../../../lib/rates/chart.ts';
import { warmUpChart } from '../../../lib/rates/chart-warmup.ts';
import { histogramInput } from '../../../lib/rates/publish.ts';

const defaults = { numerator: 'cancer', denominator: 'population', bins: 30 };

describe('warmUpChart', () => {
  it('draws once and reports how long it took', async () => {
    const onError = vi.fn();
    const ms = await warmUpChart(defaults, onError);
    expect(onError).not.toHaveBeenCalled();
    expect(ms).toBeGreaterThan(0);
  });

  it("leaves a default run's chart as the generic path draws it (its template is the warm-up's)", async () => {
    await warmUpChart(defaults, (error) => {
      throw error;
    });
    const edges = Array.from({ length: 31 }, (_, i) => Number((0.003 + 0.0002 * i).toPrecision(12)));
    const counts = Array.from({ length: 30 }, (_, i) => (i * 37) % 101);
    const input = histogramInput(
      { rateColumn: 'rate', rows: 1234, stats: { histogram: { edges, counts } } },
      defaults,
      'uploads/x.csv',
    );
    const run = await renderHistogram(input);
    installChartFonts();
    const generic = await renderVegaLite(buildHistogramSpec(input));
    expect(run.svg).toBe(generic.svg);
    expect(run.png.equals(generic.png)).toBe(true);
  });

  it('reports a failure to onError and resolves, so the container starts anyway', async () => {
    const onError = vi.fn();
    // No bins: renderHistogram refuses the input, as it would any fault of the chart's.
    await expect(warmUpChart({ ...defaults, bins: 0 }, onError)).resolves.toBeNull();
    expect(onError).toHaveBeenCalledOnce();
    expect(String(onError.mock.calls[0]?.[0])).toMatch(/at least one bin/);
  });
});
