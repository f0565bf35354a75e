import { darkPixels, decodePng } from '../../support/png.ts';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PNG_WIDTH, renderHistogram, type HistogramChartInput } from '../../../lib/rates/chart.ts';

/** 30 bins of a bell-shaped rate distribution; the outermost bins are empty. */
function sampleInput(overrides: Partial<HistogramChartInput> = {}): HistogramChartInput {
  const n = 30;
  const lo = 0.0025;
  const hi = 0.0085;
  const width = (hi - lo) / n;
  const edges = Array.from({ length: n + 1 }, (_, i) => Number((lo + width * i).toFixed(6)));
  const counts = edges.slice(0, n).map((e) => {
    const z = (e + width / 2 - 0.0055) / 0.0006;
    return Math.round(420 * Math.exp((-z * z) / 2));
  });
  return {
    edges,
    counts,
    title: 'County cancer rates, 2024',
    subtitle: '3,142 counties · rate = cancer cases / population',
    xLabel: 'Cancer rate (cases per person)',
    yLabel: 'Number of counties',
    ...overrides,
  };
}

/** Text content of every <text> element (tspans joined), entity-decoded. */
function svgTexts(svg: string): string[] {
  return [...svg.matchAll(/<text\b[^>]*>([\s\S]*?)<\/text>/g)].map((m) =>
    (m[1] ?? '')
      .replace(/<[^>]+>/g, ' ')
      .replace(/&amp;/g, '&')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .trim(),
  );
}

/** The bar marks: one <path role="graphics-symbol" aria-roledescription="bar"> per item inside the rect mark group. */
function barPaths(svg: string): string[] {
  const start = svg.indexOf('class="mark-rect role-mark');
  expect(start).toBeGreaterThan(0);
  const group = svg.slice(start, svg.indexOf('</g>', start));
  return [...group.matchAll(/<path\b[^>]*aria-roledescription="bar"[^>]*>/g)].map((m) => m[0]);
}

describe('renderHistogram', () => {
  const savedFontEnv = process.env.CHART_FONT_FILE;
  afterEach(() => {
    if (savedFontEnv === undefined) delete process.env.CHART_FONT_FILE;
    else process.env.CHART_FONT_FILE = savedFontEnv;
  });

  it('returns a real PNG of the configured width and saves a sample', async () => {
    const chart = await renderHistogram(sampleInput());
    expect(chart.png.subarray(0, 8).toString('latin1')).toBe('\x89PNG\r\n\x1a\n');
    expect(chart.png.toString('latin1', 12, 16)).toBe('IHDR');
    const width = chart.png.readUInt32BE(16);
    const height = chart.png.readUInt32BE(20);
    expect(width).toBe(PNG_WIDTH);
    expect(height).toBeGreaterThan(700);
    expect(height).toBeLessThan(1200);
    expect(chart.png.length).toBeGreaterThan(10_000);
    expect(chart.ms).toBeGreaterThan(0);
    writeFileSync(join(tmpdir(), 'chart-sample.png'), chart.png);
  });

  it('puts title, subtitle, axis titles and readable tick labels in the SVG as text, in DejaVu Sans', async () => {
    const { svg } = await renderHistogram(sampleInput());
    const texts = svgTexts(svg);
    expect(texts).toContain('County cancer rates, 2024');
    expect(texts).toContain('3,142 counties · rate = cancer cases / population');
    expect(texts).toContain('Cancer rate (cases per person)');
    expect(texts).toContain('Number of counties');
    // x ticks: small rates printed as plain decimals, not 5e-3 or 0.005000000001
    for (const tick of ['0.003', '0.004', '0.005', '0.006', '0.007', '0.008']) expect(texts).toContain(tick);
    // y ticks: integer counts
    for (const tick of ['0', '100', '200', '300', '400']) expect(texts).toContain(tick);
    const families = new Set([...svg.matchAll(/font-family="([^"]*)"/g)].map((m) => m[1]));
    expect([...families]).toEqual(["'DejaVu Sans', sans-serif"]);
    expect(svg).toContain('fill="white"'); // white background rect
  });

  it('draws exactly one bar per nonzero bin, with heights proportional to the counts', async () => {
    const input = sampleInput();
    const nonzero = input.counts.filter((c) => c > 0);
    expect(nonzero.length).toBeLessThan(input.counts.length); // the fixture has empty bins
    const bars = barPaths((await renderHistogram(input)).svg);
    expect(bars).toHaveLength(nonzero.length);

    // d="M{x},{y}h{w}v{h}h-{w}Z": the bar heights must follow the counts.
    const heights = bars.map((b) => Number(/d="M[^,]+,[^h]+h[^v]+v([^h]+)h/.exec(b)?.[1]));
    const maxCount = Math.max(...nonzero);
    const maxHeight = Math.max(...heights);
    expect(maxHeight).toBeGreaterThan(300); // plot is 400 px tall
    for (const [i, h] of heights.entries()) expect(h / maxHeight).toBeCloseTo((nonzero[i] ?? 0) / maxCount, 2);

    const sparse = await renderHistogram(
      sampleInput({ edges: [0, 1, 2, 3, 4, 5], counts: [0, 7, 0, 0, 2], title: 'Sparse' }),
    );
    expect(barPaths(sparse.svg)).toHaveLength(2);
    const empty = await renderHistogram(sampleInput({ edges: [0, 1, 2], counts: [0, 0], title: 'Empty' }));
    expect(empty.svg).not.toContain('aria-roledescription="bar"');
  });

  it('rasterizes the text with the bundled font (title and tick pixels are dark, and change with the title)', async () => {
    const a = await renderHistogram(sampleInput());
    const img = decodePng(a.png);
    const scale = img.width / Number(/<svg[^>]*width="(\d+(?:\.\d+)?)"/.exec(a.svg)?.[1]);
    // Title band: top-left, above the plot. The title is #111 text; nothing else is drawn there.
    const titleInk = darkPixels(img, 0, 0, Math.round(500 * scale), Math.round(45 * scale));
    expect(titleInk).toBeGreaterThan(1000);
    // Bottom band below the bars: x tick labels and the x axis title.
    const bottomInk = darkPixels(img, 0, img.height - Math.round(60 * scale), img.width, img.height);
    expect(bottomInk).toBeGreaterThan(1000);

    const b = await renderHistogram(sampleInput({ title: 'Completely different heading' }));
    const imgB = decodePng(b.png);
    expect(b.png.equals(a.png)).toBe(false);
    // Only text differs: the plot area below the title band is pixel-identical when heights match.
    if (imgB.height === img.height) {
      const row = img.width * 4;
      const from = Math.round(120 * scale) * row;
      expect(imgB.pixels.subarray(from).equals(img.pixels.subarray(from))).toBe(true);
      expect(imgB.pixels.subarray(0, from).equals(img.pixels.subarray(0, from))).toBe(false);
    }
  });

  it('wraps a long title instead of widening the chart', async () => {
    const title =
      'A very long title that goes on and on to check how the layout copes with it in a report of county level rates';
    const { svg } = await renderHistogram(sampleInput({ title }));
    const svgWidth = Number(/<svg[^>]*width="(\d+(?:\.\d+)?)"/.exec(svg)?.[1]);
    expect(svgWidth).toBeLessThan(900);
    expect(svgTexts(svg).join(' ')).toContain('A very long title that goes on');
  });

  it('escapes markup characters in titles and labels', async () => {
    const title = 'Rates < 1% & "quoted" <b>';
    const chart = await renderHistogram(sampleInput({ title, xLabel: 'cases/person (x < 0.01)' }));
    expect(chart.svg).not.toContain('<b>');
    expect(svgTexts(chart.svg)).toContain(title);
    expect(svgTexts(chart.svg)).toContain('cases/person (x < 0.01)');
    expect(decodePng(chart.png).width).toBe(PNG_WIDTH);
  });

  it('formats large and tiny bin edges readably', async () => {
    const big = await renderHistogram(
      sampleInput({ edges: [0, 2.5e6, 5e6, 7.5e6, 1e7], counts: [2000, 30, 5, 1], xLabel: 'Population' }),
    );
    const bigTexts = svgTexts(big.svg);
    expect(bigTexts).toContain('5M');
    expect(bigTexts).toContain('0');
    expect(bigTexts.some((t) => /e[+-]/.test(t))).toBe(false);
    const tiny = await renderHistogram(sampleInput({ edges: [0, 1e-5, 2e-5], counts: [3, 4] }));
    expect(svgTexts(tiny.svg).some((t) => t === '1e-5')).toBe(true);
  });

  it('rejects invalid input with a clear message', async () => {
    await expect(renderHistogram(sampleInput({ edges: [0, 1, 2], counts: [1, 2, 3] }))).rejects.toThrow(
      /edges\.length must be counts\.length \+ 1 \(got 3 edges for 3 counts\)/,
    );
    await expect(renderHistogram(sampleInput({ edges: [0], counts: [] }))).rejects.toThrow(/at least one bin/);
    await expect(renderHistogram(sampleInput({ edges: [0, Number.NaN, 2], counts: [1, 2] }))).rejects.toThrow(
      /edges\[1\] is not a finite number/,
    );
    await expect(renderHistogram(sampleInput({ edges: [0, 1, 2], counts: [1, Infinity] }))).rejects.toThrow(
      /counts\[1\] is not a finite number/,
    );
    await expect(renderHistogram(sampleInput({ edges: [0, 1, 2], counts: [1, -1] }))).rejects.toThrow(
      /counts\[1\] is negative/,
    );
    await expect(renderHistogram(sampleInput({ edges: [0, 2, 1], counts: [1, 1] }))).rejects.toThrow(
      /strictly increasing/,
    );
  });

  it('fails with an actionable error when the font file is missing or not a font', async () => {
    process.env.CHART_FONT_FILE = '/nonexistent/fonts/Missing.ttf';
    await expect(renderHistogram(sampleInput())).rejects.toThrow(
      /Chart font file not found: CHART_FONT_FILE=\/nonexistent\/fonts\/Missing\.ttf.*unset it/,
    );
    const notAFont = join(tmpdir(), `not-a-font-${process.pid}.ttf`);
    writeFileSync(notAFont, 'hello, I am not a font file at all');
    process.env.CHART_FONT_FILE = notAFont;
    try {
      await expect(renderHistogram(sampleInput())).rejects.toThrow(/not a usable TrueType font/);
    } finally {
      rmSync(notAFont, { force: true });
    }
  });

  it('honours CHART_FONT_FILE pointing at a real TTF', async () => {
    const { createRequire } = await import('node:module');
    process.env.CHART_FONT_FILE = createRequire(import.meta.url).resolve(
      'dejavu-fonts-ttf/ttf/DejaVuSansCondensed.ttf',
    );
    const chart = await renderHistogram(sampleInput());
    const img = decodePng(chart.png);
    expect(darkPixels(img, 0, 0, img.width, 80)).toBeGreaterThan(500);
  });
});
