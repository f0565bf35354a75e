/**
 * Server-side histogram rendering: vega-lite spec -> vega SVG (headless, no canvas) -> PNG via resvg.
 *
 * Lambda has no system fonts, so every piece of text is rasterized with the DejaVu Sans TTF shipped in
 * node_modules (`dejavu-fonts-ttf`), or with the file named by env CHART_FONT_FILE. The SVG's font-family
 * list starts with 'DejaVu Sans' so resvg picks that face, and vega's text layout is fed real DejaVu Sans
 * advance widths (read from the same TTF) so titles, tick labels and axis titles are laid out for the
 * font that actually draws them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

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

const DEFAULT_FONT_MODULE = 'dejavu-fonts-ttf/ttf/DejaVuSans.ttf';
const BOLD_FONT_FILE_NAME = 'DejaVuSans-Bold.ttf';

// ---------------------------------------------------------------------------------------------------------
// Fonts (resolved once per container per CHART_FONT_FILE value)
// ---------------------------------------------------------------------------------------------------------

interface FontSetup {
  /** Files handed to resvg: the regular face first, plus the bold face when it sits next to it. */
  files: string[];
  /** Advance widths of the regular face, for vega's text measurement. */
  metrics: FontMetrics;
  /** Advance widths of the bold face when it is loaded (titles); else bold text is estimated from `metrics`. */
  boldMetrics: FontMetrics | undefined;
}

/** Keyed by the CHART_FONT_FILE value ('' = bundled DejaVu Sans). */
const fontCache = new Map<string, FontSetup>();

/**
 * The TTF that draws all chart text. Env CHART_FONT_FILE wins; otherwise DejaVu Sans from the
 * `dejavu-fonts-ttf` package. Throws an Error naming the path tried and how to fix it when the file is missing.
 */
export function resolveChartFontFile(): string {
  const override = process.env.CHART_FONT_FILE;
  if (override !== undefined && override.trim() !== '') {
    const path = override.trim();
    if (!existsSync(path)) {
      throw new Error(
        `Chart font file not found: CHART_FONT_FILE=${path}. Point CHART_FONT_FILE at an existing .ttf ` +
          `(e.g. node_modules/dejavu-fonts-ttf/ttf/DejaVuSans.ttf) or unset it to use the bundled DejaVu Sans.`,
      );
    }
    return path;
  }
  let path: string;
  try {
    path = createRequire(import.meta.url).resolve(DEFAULT_FONT_MODULE);
  } catch (err) {
    throw new Error(
      `Chart font file not found: could not resolve '${DEFAULT_FONT_MODULE}' from ${import.meta.url} ` +
        `(${(err as Error).message}). Ship the 'dejavu-fonts-ttf' package in node_modules of the deployment ` +
        `package (it is needed at runtime: Lambda has no system fonts), or set CHART_FONT_FILE to a .ttf path.`,
    );
  }
  if (!existsSync(path)) {
    throw new Error(
      `Chart font file not found: ${path}. Reinstall 'dejavu-fonts-ttf' or set CHART_FONT_FILE to a .ttf path.`,
    );
  }
  return path;
}

function fontSetup(): FontSetup {
  const override = process.env.CHART_FONT_FILE?.trim() ?? '';
  const cached = fontCache.get(override);
  if (cached) return cached;
  const regular = resolveChartFontFile();
  const files = [regular];
  // Titles are bold; use the real bold face when it ships alongside the regular one (resvg would otherwise
  // fall back to the regular face, which is still readable).
  let boldMetrics: FontMetrics | undefined;
  if (override === '') {
    const bold = join(dirname(regular), BOLD_FONT_FILE_NAME);
    try {
      boldMetrics = readFontMetrics(readFileSync(bold));
      files.push(bold);
    } catch {
      boldMetrics = undefined; // optional: without it resvg draws titles with the regular face
    }
  }
  let metrics: FontMetrics;
  try {
    metrics = readFontMetrics(readFileSync(regular));
  } catch (err) {
    // resvg would silently draw no text at all with an unusable font file, so fail loudly instead.
    throw new Error(
      `Chart font file ${regular} is not a usable TrueType font (${(err as Error).message}). ` +
        `Point CHART_FONT_FILE at a .ttf such as node_modules/dejavu-fonts-ttf/ttf/DejaVuSans.ttf, or unset it.`,
    );
  }
  const setup: FontSetup = { files, metrics, boldMetrics };
  fontCache.set(override, setup);
  return setup;
}

// ---------------------------------------------------------------------------------------------------------
// Minimal TrueType reader: advance widths per code point (cmap format 4 + hmtx). Enough for text layout.
// ---------------------------------------------------------------------------------------------------------

interface FontMetrics {
  unitsPerEm: number;
  /** Advance width in font units by BMP code point; 0 = unknown. */
  advance: Uint16Array;
  defaultAdvance: number;
}

function readFontMetrics(buf: Buffer): FontMetrics {
  if (buf.length < 12) throw new Error('file too short');
  const version = buf.readUInt32BE(0);
  if (version !== 0x00010000 && version !== 0x4f54544f /* OTTO */ && version !== 0x74727565 /* true */) {
    throw new Error('not an sfnt (TrueType/OpenType) font file');
  }
  const numTables = buf.readUInt16BE(4);
  const tables = new Map<string, number>();
  for (let i = 0; i < numTables; i++) {
    const rec = 12 + i * 16;
    tables.set(buf.toString('latin1', rec, rec + 4), buf.readUInt32BE(rec + 8));
  }
  const head = tables.get('head');
  const hhea = tables.get('hhea');
  const hmtx = tables.get('hmtx');
  const cmap = tables.get('cmap');
  if (head === undefined || hhea === undefined || hmtx === undefined || cmap === undefined) {
    throw new Error('not a TrueType font with head/hhea/hmtx/cmap tables');
  }
  const unitsPerEm = buf.readUInt16BE(head + 18);
  const numHMetrics = buf.readUInt16BE(hhea + 34);
  const glyphAdvance = (glyph: number): number =>
    buf.readUInt16BE(hmtx + 4 * Math.min(glyph, numHMetrics - 1));

  // Find a Unicode BMP subtable in format 4.
  const numSub = buf.readUInt16BE(cmap + 2);
  let sub = -1;
  for (let i = 0; i < numSub; i++) {
    const platform = buf.readUInt16BE(cmap + 4 + i * 8);
    const encoding = buf.readUInt16BE(cmap + 6 + i * 8);
    const offset = cmap + buf.readUInt32BE(cmap + 8 + i * 8);
    if (buf.readUInt16BE(offset) === 4 && (platform === 0 || (platform === 3 && encoding === 1))) {
      sub = offset;
      break;
    }
  }
  if (sub < 0) throw new Error('no Unicode BMP cmap subtable (format 4)');

  const advance = new Uint16Array(0x10000);
  const segCount = buf.readUInt16BE(sub + 6) / 2;
  const endCodes = sub + 14;
  const startCodes = endCodes + segCount * 2 + 2;
  const idDeltas = startCodes + segCount * 2;
  const idRangeOffsets = idDeltas + segCount * 2;
  for (let s = 0; s < segCount; s++) {
    const end = buf.readUInt16BE(endCodes + s * 2);
    const start = buf.readUInt16BE(startCodes + s * 2);
    const delta = buf.readInt16BE(idDeltas + s * 2);
    const rangeOffsetPos = idRangeOffsets + s * 2;
    const rangeOffset = buf.readUInt16BE(rangeOffsetPos);
    for (let c = start; c <= end && c !== 0xffff; c++) {
      let glyph: number;
      if (rangeOffset === 0) {
        glyph = (c + delta) & 0xffff;
      } else {
        const pos = rangeOffsetPos + rangeOffset + (c - start) * 2;
        glyph = buf.readUInt16BE(pos);
        if (glyph !== 0) glyph = (glyph + delta) & 0xffff;
      }
      if (glyph !== 0) advance[c] = glyphAdvance(glyph);
    }
  }
  const defaultAdvance = advance[0x78] || Math.round(unitsPerEm * 0.6); // 'x'
  return { unitsPerEm, advance, defaultAdvance };
}

/** Without a bold face to measure, assume bold text is ~10% wider than regular (true for DejaVu Sans). */
const BOLD_WIDTH_FACTOR = 1.1;

interface TextItem {
  fontSize?: number;
  fontWeight?: string | number;
}

function measureText(fonts: FontSetup, text: string, fontSize: number, bold: boolean): number {
  const metrics = bold && fonts.boldMetrics ? fonts.boldMetrics : fonts.metrics;
  let units = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    units += metrics.advance[code] || metrics.defaultAdvance;
  }
  const synthetic = bold && !fonts.boldMetrics ? BOLD_WIDTH_FACTOR : 1;
  return (units / metrics.unitsPerEm) * fontSize * synthetic;
}

interface VegaTextMetrics {
  width: (item: TextItem, text: unknown) => number;
}

let installedFonts: FontSetup | undefined;

/**
 * Make vega lay text out with the widths of the font resvg will draw with (vega has no canvas in Node, and
 * its fallback estimate of 0.8em per character over-sizes every label). This replaces vega's process-wide
 * `textMetrics.width`, as vl-convert does; other vega users in the process get the same font metrics.
 */
function installTextMetrics(fonts: FontSetup): void {
  if (installedFonts === fonts) return;
  // `textMetrics` is exported by vega at runtime (vega-scenegraph) but missing from vega-typings.
  const tm = (vega as unknown as { textMetrics?: VegaTextMetrics }).textMetrics;
  if (!tm) return;
  tm.width = (item, text) => {
    const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
    const str = text == null ? '' : String(text).trim();
    if (size <= 0 || str === '') return 0;
    const weight = item.fontWeight;
    const bold = weight === 'bold' || (typeof weight === 'number' && weight >= 600) || weight === '700';
    return measureText(fonts, str, size, bold);
  };
  installedFonts = fonts;
}

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
      throw new Error(`renderHistogram: edges must be strictly increasing (edges[${i - 1}]=${edges[i - 1]}, edges[${i}]=${e})`);
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
function wrapText(text: string, fontSize: number, bold: boolean, maxWidth: number): string | string[] {
  const fonts = installedFonts;
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

export function buildHistogramSpec(input: HistogramChartInput): TopLevelSpec {
  const { edges, counts } = input;
  const rows: BinRow[] = [];
  counts.forEach((count, i) => {
    // Empty bins draw nothing; leaving them out keeps the SVG to one mark per visible bar.
    if (count > 0) rows.push({ start: edges[i] as number, end: edges[i + 1] as number, count });
  });
  const first = edges[0] as number;
  const last = edges[edges.length - 1] as number;
  const maxCount = Math.max(0, ...counts);
  const allIntegers = counts.every((c) => Number.isInteger(c));

  // Long titles wrap instead of widening the chart (which would shrink everything in the fixed-width PNG).
  const titleWidth = CHART_WIDTH + 40;
  const text = wrapText(input.title, TITLE_FONT_SIZE, true, titleWidth);
  const title = input.subtitle
    ? { text, subtitle: wrapText(input.subtitle, SUBTITLE_FONT_SIZE, false, titleWidth) }
    : { text };
  // d3 SI / exponent formats print zero as "0M" / "0e+0"; show a plain 0 instead.
  const zeroAsZero = "datum.value === 0 ? '0' : datum.label";

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    background: 'white',
    padding: { left: 16, right: 28, top: 16, bottom: 12 },
    title: { ...title, anchor: 'start', offset: 14 },
    data: { values: rows },
    // 1px gap between neighbouring bars while bars are wide enough to afford it.
    mark: { type: 'bar', color: '#4C78A8', binSpacing: counts.length <= 120 ? 1 : 0 },
    encoding: {
      x: {
        field: 'start',
        type: 'quantitative',
        bin: 'binned',
        title: input.xLabel,
        scale: { domain: [first, last], nice: false, zero: false },
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
        scale: { domain: [0, maxCount > 0 ? maxCount : 1], nice: true },
        axis: {
          format: maxCount >= 1e6 ? '~s' : ',~f',
          labelExpr: zeroAsZero,
          ...(allIntegers ? { tickMinStep: 1 } : {}),
          grid: true,
        },
      },
    },
    config: {
      font: FONT_FAMILY,
      view: { stroke: null },
      title: { fontSize: TITLE_FONT_SIZE, subtitleFontSize: SUBTITLE_FONT_SIZE, subtitleColor: '#555555', subtitlePadding: 6, color: '#111111' },
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
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Render
// ---------------------------------------------------------------------------------------------------------

export async function renderHistogram(input: HistogramChartInput): Promise<RenderedChart> {
  const t0 = performance.now();
  validate(input);
  const fonts = fontSetup();
  installTextMetrics(fonts);

  const vgSpec = compile(buildHistogramSpec(input)).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }

  const image = new Resvg(svg, {
    font: {
      fontFiles: fonts.files,
      loadSystemFonts: false,
      defaultFontFamily: 'DejaVu Sans',
      sansSerifFamily: 'DejaVu Sans',
    },
    fitTo: { mode: 'width', value: PNG_WIDTH },
    background: 'white',
  }).render();
  const png = image.asPng();
  return { svg, png, ms: performance.now() - t0 };
}
