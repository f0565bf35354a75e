/**
 * Where a warm histogram render's time goes, stage by stage, timed on the generic path's pieces (lib/rates/chart.ts
 * caches the first two for the histogram: they do not depend on the data).
 */
import { performance } from 'node:perf_hooks';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { buildHistogramSpec, type HistogramChartInput, installChartFonts, resvgOptions } from '../lib/rates/chart.ts';
import { median } from './report.ts';

export async function stageTimes(
  runs: number,
  sample: (seed: number) => HistogramChartInput,
): Promise<Array<[string, number]>> {
  const times = new Map<string, number[]>();
  let t = 0;
  const lap = (stage: string): void => {
    const now = performance.now();
    times.set(stage, [...(times.get(stage) ?? []), now - t]);
    t = now;
  };
  installChartFonts();
  for (let i = 0; i < runs; i++) {
    t = performance.now();
    const spec = buildHistogramSpec(sample(i + 1));
    lap('vega-lite spec');
    const vgSpec = compile(spec).spec;
    lap('vega-lite compile');
    const runtime = vega.parse(vgSpec);
    lap('vega parse');
    const view = new vega.View(runtime, { renderer: 'none' });
    lap('vega view');
    const svg = await view.toSVG();
    view.finalize();
    lap('vega dataflow + toSVG');
    const resvg = new Resvg(svg, resvgOptions());
    lap('resvg: fonts + SVG parse + text to paths');
    const image = resvg.render();
    lap('resvg: rasterize');
    image.asPng();
    lap('resvg: PNG encode');
  }
  return [...times].map(([stage, v]) => [stage, median(v)]);
}
