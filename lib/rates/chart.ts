/**
 * Server-side histogram rendering: vega-lite spec -> vega SVG (headless, no canvas) -> PNG via resvg.
 * The font (which TTF, its advance widths, vega's text measurement) is set up in chart-fonts.ts.
 *
 * Lambda has no system fonts, so every piece of text is rasterized with the DejaVu Sans TTF shipped in
 * node_modules (`dejavu-fonts-ttf`), or with the file named by env CHART_FONT_FILE. The SVG's font-family
 * list starts with 'DejaVu Sans' so resvg picks that face, and vega's text layout is fed real DejaVu Sans
 * advance widths (read from the same TTF) so titles, tick labels and axis titles are laid out for the
 * font that actually draws them.
 */
import { performance } from 'node:perf_hooks';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { fontSetup, installedFontSetup, installTextMetrics, measureText } from './chart-fonts.ts';

export interface HistogramChartInput {
  edges: number[];
  counts: number[];
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
}

export interface RenderedChart {
  svg: string;
  png: Buffer;
  /** Wall-clock milliseconds for spec build + vega render + PNG rasterization. */
  ms: number;
}

/** CSS pixels of the plot area (axes, titles and padding come on top). */
export const CHART_WIDTH = 720;
export const CHART_HEIGHT = 400;
/** The PNG is scaled to this width (about 1.75x the SVG) so text stays crisp in reports and on HiDPI screens. */
export const PNG_WIDTH = 1440;
export const FONT_FAMILY = "'DejaVu Sans', sans-serif";

// ---------------------------------------------------------------------------------------------------------
// Input validation and spec
// ---------------------------------------------------------------------------------------------------------

function validate(input: HistogramChartInput): void {
  const { edges, counts } = input;
  if (!Array.isArray(edges) || !Array.isArray(counts)) {
    throw new Error('renderHistogram: edges and counts must be arrays of numbers');
  }
  if (counts.length === 0) throw new Error('renderHistogram: counts must contain at least one bin');
  if (edges.length !== counts.length + 1) {
    throw new Error(
      `renderHistogram: edges.length must be counts.length + 1 (got ${edges.length} edges for ${counts.length} counts)`,
    );
  }
  edges.forEach((e, i) => {
    if (typeof e !== 'number' || !Number.isFinite(e)) {
      throw new Error(`renderHistogram: edges[${i}] is not a finite number (${String(e)})`);
    }
    if (i > 0 && !(e > (edges[i - 1] as number))) {
      throw new Error(
        `renderHistogram: edges must be strictly increasing (edges[${i - 1}]=${edges[i - 1]}, edges[${i}]=${e})`,
      );
    }
  });
  counts.forEach((c, i) => {
    if (typeof c !== 'number' || !Number.isFinite(c)) {
      throw new Error(`renderHistogram: counts[${i}] is not a finite number (${String(c)})`);
    }
    if (c < 0) throw new Error(`renderHistogram: counts[${i}] is negative (${c})`);
  });
  for (const key of ['title', 'xLabel', 'yLabel'] as const) {
    if (typeof input[key] !== 'string') throw new Error(`renderHistogram: ${key} must be a string`);
  }
  if (input.subtitle !== undefined && typeof input.subtitle !== 'string') {
    throw new Error('renderHistogram: subtitle must be a string when given');
  }
}

/**
 * d3-format specifier for x tick labels. Vega passes it through the scale's tickFormat, which picks the
 * precision from the tick step, so `~f` gives 0.0045 / 0.005 / 0.0055 for rates and 250 / 500 for counts.
 */
export function xTickFormat(edges: number[]): string {
  const maxAbs = Math.max(...edges.map(Math.abs));
  if (maxAbs >= 1e5) return '~s'; // 250k, 1.5M
  if (maxAbs > 0 && maxAbs < 1e-4) return '.2~e'; // 3.5e-5: avoids long runs of zeros
  return ',~f';
}

const TITLE_FONT_SIZE = 18;
const SUBTITLE_FONT_SIZE = 13;

/** Greedy word wrap to `maxWidth` px, measured with the chart font (or a 0.62em/char estimate without it). */
export function wrapText(text: string, fontSize: number, bold: boolean, maxWidth: number): string | string[] {
  const fonts = installedFontSetup();
  const width = (t: string): number =>
    fonts ? measureText(fonts, t, fontSize, bold) : t.length * fontSize * (bold ? 0.68 : 0.62);
  if (width(text) <= maxWidth) return text;
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    const candidate = line === '' ? word : `${line} ${word}`;
    if (line !== '' && width(candidate) > maxWidth) {
      lines.push(line);
      line = word;
    } else {
      line = candidate;
    }
  }
  if (line !== '') lines.push(line);
  return lines.length === 1 ? (lines[0] as string) : lines;
}

interface BinRow {
  start: number;
  end: number;
  count: number;
}

/** Fonts and colours of the chart (a fresh object per spec: the spec is handed to vega-lite whole). */
export function chartConfig(): TopLevelSpec['config'] {
  return {
    font: FONT_FAMILY,
    view: { stroke: null },
    title: {
      fontSize: TITLE_FONT_SIZE,
      subtitleFontSize: SUBTITLE_FONT_SIZE,
      subtitleColor: '#555555',
      subtitlePadding: 6,
      color: '#111111',
    },
    axis: {
      labelFontSize: 12,
      titleFontSize: 13,
      titleFontWeight: 'bold',
      titleColor: '#222222',
      labelColor: '#333333',
      titlePadding: 10,
      domainColor: '#888888',
      tickColor: '#888888',
      gridColor: '#e6e6e6',
    },
  };
}

/** What differs from one histogram to the next; everything else is the template's (see {@link histogramRuntime}). */
interface HistogramValues {
  rows: BinRow[];
  title: string | string[];
  subtitle: string | string[] | undefined;
  xDomain: [number, number];
  yDomain: [number, number];
}

function histogramValues(input: HistogramChartInput): HistogramValues {
  const { edges, counts } = input;
  const rows: BinRow[] = [];
  counts.forEach((count, i) => {
    // Empty bins draw nothing; leaving them out keeps the SVG to one mark per visible bar.
    if (count > 0) rows.push({ start: edges[i] as number, end: edges[i + 1] as number, count });
  });
  const maxCount = Math.max(0, ...counts);
  // Long titles wrap instead of widening the chart (which would shrink everything in the fixed-width PNG).
  const titleWidth = CHART_WIDTH + 40;
  return {
    rows,
    title: wrapText(input.title, TITLE_FONT_SIZE, true, titleWidth),
    subtitle: input.subtitle ? wrapText(input.subtitle, SUBTITLE_FONT_SIZE, false, titleWidth) : undefined,
    xDomain: [edges[0] as number, edges[edges.length - 1] as number],
    yDomain: [0, maxCount > 0 ? maxCount : 1],
  };
}

/** The template's named dataset and signals, set per render (vega draws them exactly as if written in). */
const BINS_DATA = 'bins';
const SIGNALS = {
  title: 'histogram_title',
  subtitle: 'histogram_subtitle',
  xDomain: 'histogram_x_domain',
  yDomain: 'histogram_y_domain',
} as const;

export function buildHistogramSpec(input: HistogramChartInput): TopLevelSpec {
  return histogramSpec(input, histogramValues(input), 'literal');
}

/**
 * The histogram's spec, with `values` written in (`literal`), or read from {@link BINS_DATA} and {@link SIGNALS}
 * (`template`: then the spec holds only what the labels, the tick formats and the bin count decide, and two
 * histograms of the same kind share it).
 */
function histogramSpec(
  input: HistogramChartInput,
  values: HistogramValues,
  mode: 'literal' | 'template',
): TopLevelSpec {
  const { edges, counts } = input;
  const maxCount = values.yDomain[1];
  const allIntegers = counts.every((c) => Number.isInteger(c));
  const literal = mode === 'literal';
  const subtitle = literal ? values.subtitle : { expr: SIGNALS.subtitle };
  const title = {
    // vega-lite leaves out an empty title's group, but not a signal's that happens to be empty: keep '' written in.
    text: literal || values.title === '' ? values.title : { expr: SIGNALS.title },
    ...(values.subtitle !== undefined ? { subtitle } : {}),
  };
  // d3 SI / exponent formats print zero as "0M" / "0e+0"; show a plain 0 instead.
  const zeroAsZero = "datum.value === 0 ? '0' : datum.label";

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    background: 'white',
    padding: { left: 16, right: 28, top: 16, bottom: 12 },
    ...(literal ? {} : { params: Object.values(SIGNALS).map((name) => ({ name, value: null })) }),
    // vega-lite types a subtitle as text only, but compiles an ExprRef to a signal like the title's.
    title: { ...(title as { text: string | string[] }), anchor: 'start', offset: 14 },
    data: literal ? { values: values.rows } : { name: BINS_DATA },
    // 1px gap between neighbouring bars while bars are wide enough to afford it.
    mark: { type: 'bar', color: '#4C78A8', binSpacing: counts.length <= 120 ? 1 : 0 },
    encoding: {
      x: {
        field: 'start',
        type: 'quantitative',
        bin: 'binned',
        title: input.xLabel,
        scale: { domain: literal ? values.xDomain : { expr: SIGNALS.xDomain }, nice: false, zero: false },
        axis: {
          format: xTickFormat(edges),
          tickCount: 8,
          labelOverlap: true,
          labelFlush: true,
          labelExpr: zeroAsZero,
        },
      },
      x2: { field: 'end' },
      y: {
        field: 'count',
        type: 'quantitative',
        title: input.yLabel,
        scale: { domain: literal ? values.yDomain : { expr: SIGNALS.yDomain }, nice: true },
        axis: {
          format: maxCount >= 1e6 ? '~s' : ',~f',
          labelExpr: zeroAsZero,
          ...(allIntegers ? { tickMinStep: 1 } : {}),
          grid: true,
        },
      },
    },
    config: chartConfig(),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Render
// ---------------------------------------------------------------------------------------------------------

/** Templates kept per container: one per kind of histogram (labels, tick formats, bin count) seen lately. */
const MAX_TEMPLATES = 16;
const runtimes = new Map<string, vega.Runtime>();

/**
 * The parsed vega runtime of a template spec, compiled once per kind of histogram: vega-lite's compile and vega's
 * parse are a third of a warm render and do not depend on the data. Each render still gets a fresh View (a
 * reused View keeps its old marks and appends new ones, which reorders the SVG's elements).
 */
function histogramRuntime(template: TopLevelSpec): vega.Runtime {
  const key = JSON.stringify(template);
  let runtime = runtimes.get(key);
  if (runtime === undefined) {
    runtime = vega.parse(compile(template).spec);
    const oldest = runtimes.keys().next();
    if (runtimes.size >= MAX_TEMPLATES && oldest.done !== true) runtimes.delete(oldest.value);
    runtimes.set(key, runtime);
  }
  return runtime;
}

export async function renderHistogram(input: HistogramChartInput): Promise<RenderedChart> {
  const t0 = performance.now();
  validate(input);
  installChartFonts(); // before the values: the title wraps by the font's own widths
  const values = histogramValues(input);
  const view = new vega.View(histogramRuntime(histogramSpec(input, values, 'template')), { renderer: 'none' });
  let svg: string;
  try {
    view
      .data(BINS_DATA, values.rows)
      .signal(SIGNALS.title, values.title)
      .signal(SIGNALS.subtitle, values.subtitle ?? null)
      .signal(SIGNALS.xDomain, values.xDomain)
      .signal(SIGNALS.yDomain, values.yDomain);
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  return { svg, png: rasterize(svg), ms: performance.now() - t0 };
}

/** Loads the bundled font and feeds its widths to vega's text layout (and to {@link wrapText}); idempotent. */
export function installChartFonts(): void {
  installTextMetrics(fontSetup());
}

/**
 * Any vega-lite spec through the chain (vega SVG, then resvg's PNG at {@link PNG_WIDTH}) with the bundled font: the
 * histogram's renderer, and the fan-out timeline's (lib/fanout/timeline-chart.ts). Build the spec after the fonts
 * are installed ({@link installChartFonts}: {@link wrapText} measures with them) or pass a spec that does not wrap.
 */
export async function renderVegaLite(spec: TopLevelSpec): Promise<{ svg: string; png: Buffer }> {
  installTextMetrics(fontSetup());
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  return { svg, png: rasterize(svg) };
}

/** resvg's options for every chart: the bundled font only (no system fonts in Lambda), {@link PNG_WIDTH} wide. */
export function resvgOptions(): ResvgRenderOptions {
  return {
    font: {
      fontFiles: fontSetup().files,
      loadSystemFonts: false,
      defaultFontFamily: 'DejaVu Sans',
      sansSerifFamily: 'DejaVu Sans',
    },
    fitTo: { mode: 'width', value: PNG_WIDTH },
    background: 'white',
  };
}

/** A chart's SVG as a PNG, drawn by resvg with {@link resvgOptions}. */
export function rasterize(svg: string): Buffer {
  return new Resvg(svg, resvgOptions()).render().asPng();
}
