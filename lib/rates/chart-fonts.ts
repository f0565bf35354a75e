/**
 * The chart's font, for both renderers: the TTF resvg draws with (resolved once per container per CHART_FONT_FILE
 * value), its advance widths read from the file, and vega's text measurement switched to those widths.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as vega from 'vega';

const DEFAULT_FONT_MODULE = 'dejavu-fonts-ttf/ttf/DejaVuSans.ttf';
const BOLD_FONT_FILE_NAME = 'DejaVuSans-Bold.ttf';

// ---------------------------------------------------------------------------------------------------------

export interface FontSetup {
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

export function fontSetup(): FontSetup {
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
  const glyphAdvance = (glyph: number): number => buf.readUInt16BE(hmtx + 4 * Math.min(glyph, numHMetrics - 1));

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

export function measureText(fonts: FontSetup, text: string, fontSize: number, bold: boolean): number {
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
export function installTextMetrics(fonts: FontSetup): void {
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

/** The font vega measures text with, once renderHistogram has installed one. */
export function installedFontSetup(): FontSetup | undefined {
  return installedFonts;
}
