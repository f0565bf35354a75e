/**
 * renderHistogram compiles one template per kind of histogram and renders each chart in a fresh vega View with its
 * own data and signals: its SVG and PNG must be those of the spec with everything written in (the generic path,
 * compiled per render), and one render's data must never show up in another's chart.
 */
import { describe, expect, it } from 'vitest';
import {
  buildHistogramSpec,
  type HistogramChartInput,
  installChartFonts,
  renderHistogram,
  renderVegaLite,
} from '../../../lib/rates/chart.ts';

function bell(n: number, lo: number, hi: number, peak: number): HistogramChartInput {
  const width = (hi - lo) / n;
  const edges = Array.from({ length: n + 1 }, (_, i) => Number((lo + width * i).toPrecision(12)));
  const counts = edges.slice(0, n).map((e) => {
    const z = (e + width / 2 - (lo + hi) / 2) / ((hi - lo) / 8);
    return Math.round(peak * Math.exp((-z * z) / 2));
  });
  return { edges, counts, title: `Peak ${peak}`, subtitle: `${n} bins`, xLabel: 'rate', yLabel: 'rows (count)' };
}

/** The chart as the generic path draws it: the spec with data, titles and domains written in, compiled afresh. */
async function uncached(input: HistogramChartInput): Promise<{ svg: string; png: Buffer }> {
  installChartFonts();
  return renderVegaLite(buildHistogramSpec(input));
}

const barCount = (svg: string): number => svg.split('aria-roledescription="bar"').length - 1;

describe('renderHistogram with cached templates', () => {
  it('draws each of several histograms of one kind exactly as the uncached path does', async () => {
    const inputs = [
      bell(30, 0.0025, 0.0085, 420),
      bell(30, 0.01, 0.04, 9),
      { ...bell(30, 0.0025, 0.0085, 3), title: 'A title long enough to wrap onto a second line '.repeat(3) },
      { ...bell(30, 0.0025, 0.0085, 420), subtitle: undefined },
      { ...bell(30, 0.0025, 0.0085, 420), title: '' },
      { ...bell(30, 0.0025, 0.0085, 420), title: '', subtitle: undefined },
      bell(12, 0, 2.5e6, 2_500_000),
      bell(5, 0, 5e-5, 7),
      { ...bell(4, 0, 4, 1), counts: [0, 0, 0, 0] },
      { ...bell(10, 0, 1, 1), counts: [0.5, 1.5, 2, 0, 0, 0, 0, 0, 0, 0.25] },
      bell(200, -1, 1, 50),
    ];
    for (const input of inputs) {
      const cached = await renderHistogram(input);
      const reference = await uncached(input);
      expect(cached.svg).toBe(reference.svg);
      expect(cached.png.equals(reference.png)).toBe(true);
    }
  });

  it('keeps two renders of different data apart, one after the other and at the same time', async () => {
    const a = bell(30, 0.0025, 0.0085, 420);
    const b = { ...bell(30, 0.2, 0.5, 40), counts: bell(30, 0.2, 0.5, 40).counts.map((c, i) => (i % 2 ? 0 : c)) };
    const [refA, refB] = [await uncached(a), await uncached(b)];
    expect(refA.svg).not.toBe(refB.svg);

    const first = await renderHistogram(a);
    const second = await renderHistogram(b);
    const again = await renderHistogram(a);
    const [concurrentA, concurrentB] = await Promise.all([renderHistogram(a), renderHistogram(b)]);
    for (const chart of [first, again, concurrentA]) expect(chart.svg).toBe(refA.svg);
    for (const chart of [second, concurrentB]) expect(chart.svg).toBe(refB.svg);
    expect(second.png.equals(refB.png)).toBe(true);
    expect(barCount(first.svg)).toBe(a.counts.filter((c) => c > 0).length);
    expect(barCount(second.svg)).toBe(b.counts.filter((c) => c > 0).length);
    expect(second.svg).toContain('Peak 40');
    expect(second.svg).not.toContain('Peak 420');
  });
});
