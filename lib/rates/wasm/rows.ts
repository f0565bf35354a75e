/**
 * AssemblyScript source of the rates engine's row kernel, compiled to build/rows.wasm by `npm run build:wasm` (run
 * by `npm install`/`npm ci` through `prepare`; the printer is shortest.ts). It does for the plain rows — no quote
 * byte, or text fields quoted the common way (splitQuotedRow); both wanted fields plain decimals; a finite rate; a
 * number String() would print without a tie rule — what the engine's careful path
 * (../rates-engine.ts, carefulRecord) does for every record: copy the row, append `,` + rate + `\n`, hand the rate to
 * the statistics. Any other record stops the kernel at its start, and the careful path takes that one record.
 * Why WebAssembly: in a fresh process (a cold Lambda container) V8 spends most of the first megabytes warming up
 * and deoptimising the JS loop; this code is compiled before the first row and reads 16 bytes per step.
 *
 * The JS side (../row-kernel.ts) lays out the memory: the input window, the output, the rates, the field state.
 * `run` reports through STATE: where it stopped, the output end, rates written, lines and rows passed (i32), and the
 * smallest and largest rate written (f64).
 */
import { pow10, writeShortest } from './shortest';

/** Why `run` returned. */
const DONE: i32 = 0; // reached `limit`
const OUTPUT_FULL: i32 = 1; // the output has no room for the longest row the kernel takes
const VALUES_FULL: i32 = 2;
const CAREFUL: i32 = 3; // the record at the stop position needs the careful path
const WINDOW_END: i32 = 4; // no \n before the input window's end: the JS side moves the window or goes careful

/** Longest row (bytes before its \n) the kernel takes; longer ones go the careful way. */
const ROW_CAP: i32 = 64 * 1024;
/** Output bytes kept free beyond a row: its `,`, the rate (25 at most), the `\n`, a 16-byte store's overhang. */
const ROW_SLACK: i32 = 64;

const COMMA: u8 = 44;
const NL: u8 = 10;
const CR: u8 = 13;

/** Where the kernel reports (../row-kernel.ts reads it: five i32, then two f64 at byte 24). */
const STATE: usize = memory.data(40);

export function heapBase(): usize {
  return __heap_base;
}

export function state(): usize {
  return STATE;
}

/** The smallest and largest rate of the current call (the statistics take them with the block). */
let lowest: f64 = Infinity;
let highest: f64 = -Infinity;

function report(status: i32, pos: i32, out: i32, values: i32, lines: i32, rows: i32): i32 {
  store<i32>(STATE, pos);
  store<i32>(STATE, out, 4);
  store<i32>(STATE, values, 8);
  store<i32>(STATE, lines, 12);
  store<i32>(STATE, rows, 16);
  store<f64>(STATE, lowest, 24);
  store<f64>(STATE, highest, 32);
  return status;
}

/**
 * Processes the plain rows of input[start, end) that start before `limit`, appending the output at out + outAt
 * (room for outCap bytes) and the rates at values + 8·valuesAt (room for valuesCap). Fields are 0-based;
 * input must be readable up to 16 bytes past `end` (the JS side leaves that room).
 *
 * size: hot — one loop on purpose: the per-row state lives in locals, as in the engine's JS loop it replaces.
 */
export function run(
  input: usize,
  start: i32,
  end: i32,
  limit: i32,
  out: usize,
  outAt: i32,
  outCap: i32,
  values: usize,
  valuesAt: i32,
  valuesCap: i32,
  numIdx: i32,
  denIdx: i32,
): i32 {
  const commas = i8x16.splat(COMMA);
  const newlines = i8x16.splat(NL);
  const quotes = i8x16.splat(34);
  const maxIdx = numIdx > denIdx ? numIdx : denIdx;
  let s = start;
  let o = outAt;
  let v = valuesAt;
  let lines = 0;
  let rows = 0;
  lowest = Infinity;
  highest = -Infinity;
  while (s < limit) {
    if (o + ROW_CAP + ROW_SLACK > outCap) return report(OUTPUT_FULL, s, o, v, lines, rows);
    if (v >= valuesCap) return report(VALUES_FULL, s, o, v, lines, rows);
    const scanEnd = end - s > ROW_CAP ? s + ROW_CAP : end;
    let numStart = numIdx === 0 ? s : -1;
    let numEnd = -1;
    let denStart = denIdx === 0 ? s : -1;
    let denEnd = -1;
    let col = 0;
    let nl = -1;
    let quoted = false;
    // Copy 16 bytes at a time (the overhang is overwritten by what follows) while finding the \n and the commas
    // that bound the two fields.
    for (let i = s; i < scanEnd; i += 16) {
      const bytes = v128.load(input + <usize>i);
      v128.store(out + <usize>(o + i - s), bytes);
      let live: i32 = scanEnd - i >= 16 ? 0xffff : (1 << (scanEnd - i)) - 1;
      const nlBits = i8x16.bitmask(i8x16.eq(bytes, newlines)) & live;
      if (nlBits !== 0) {
        nl = i + ctz(nlBits);
        live = (1 << ctz(nlBits)) - 1;
      }
      if ((i8x16.bitmask(i8x16.eq(bytes, quotes)) & live) !== 0) {
        const split = splitQuotedRow(input, s, scanEnd, numIdx, denIdx);
        if (split !== SPLIT_OK)
          return report(split === SPLIT_RAN_OUT && scanEnd === end ? WINDOW_END : CAREFUL, s, o, v, lines, rows);
        nl = quotedNl;
        numStart = quotedNumStart;
        numEnd = quotedNumEnd;
        denStart = quotedDenStart;
        denEnd = quotedDenEnd;
        quoted = true;
        break;
      }
      if (col <= maxIdx) {
        let commaBits = i8x16.bitmask(i8x16.eq(bytes, commas)) & live;
        while (commaBits !== 0 && col <= maxIdx) {
          const at = i + ctz(commaBits);
          if (col === numIdx) numEnd = at;
          else if (col + 1 === numIdx) numStart = at + 1;
          if (col === denIdx) denEnd = at;
          else if (col + 1 === denIdx) denStart = at + 1;
          col++;
          commaBits &= commaBits - 1;
        }
      }
      if (nl >= 0) break;
    }
    if (nl < 0) return report(scanEnd < end ? CAREFUL : WINDOW_END, s, o, v, lines, rows);
    let e = nl;
    if (e > s && load<u8>(input + <usize>(e - 1)) === CR) e--;
    if (quoted) {
      memory.copy(out + <usize>o, input + <usize>s, <usize>(e - s));
    } else {
      if (e === s) {
        lines++;
        s = nl + 1;
        continue;
      }
      // The row's end closes the field it is in.
      if (col === numIdx) numEnd = e;
      if (col === denIdx) denEnd = e;
    }
    if (numEnd < 0 || denEnd < 0) return report(CAREFUL, s, o, v, lines, rows);
    const den = plainNumber(input, denStart, denEnd);
    const rate = den > 0 ? plainNumber(input, numStart, numEnd) / den : NaN;
    if (!(rate - rate === 0)) return report(CAREFUL, s, o, v, lines, rows);
    const rowEnd = o + e - s;
    store<u8>(out + <usize>rowEnd, COMMA);
    const printed = writeShortest(rate, out + <usize>(rowEnd + 1));
    if (printed < 0) return report(CAREFUL, s, o, v, lines, rows);
    store<u8>(out + <usize>(rowEnd + 1 + printed), NL);
    o = rowEnd + printed + 2;
    store<f64>(values + ((<usize>v) << 3), rate);
    if (rate < lowest) lowest = rate;
    if (rate > highest) highest = rate;
    v++;
    rows++;
    lines++;
    s = nl + 1;
  }
  return report(DONE, s, o, v, lines, rows);
}

/**
 * The printer alone, for the benchmark and the tests (../row-kernel.ts, printRates): each of values[0, count) and a
 * \n at `out`. Stops at the first value String() has to decide; STATE[0] says how many were printed. Returns the bytes.
 */
export function printRates(values: usize, count: i32, out: usize): i32 {
  let o = out;
  let i = 0;
  for (; i < count; i++) {
    const n = writeShortest(load<f64>(values + ((<usize>i) << 3)), o);
    if (n < 0) break;
    o += <usize>n;
    store<u8>(o++, NL);
  }
  store<i32>(STATE, i);
  return <i32>(o - out);
}

/** splitQuotedRow's answers. */
const SPLIT_OK: i32 = 0;
const SPLIT_CAREFUL: i32 = 1;
const SPLIT_RAN_OUT: i32 = 2;
/** Set by splitQuotedRow: the row's \n and its two fields' bounds. */
let quotedNl: i32 = -1;
let quotedNumStart: i32 = -1;
let quotedNumEnd: i32 = -1;
let quotedDenStart: i32 = -1;
let quotedDenEnd: i32 = -1;

/**
 * A row with a quote byte before its \n, in the one shape that is common (a text column quoted because it holds a
 * comma, `01001,"Wood County, AL",AL,286,56988`): each quoted field opens at a field's start (a quote inside an
 * unquoted field is a literal byte, as csv-parse reads it with relax_quotes), closes before a comma or
 * the row's end, and holds no \n (a wanted field also no ""). Split here as the careful path's strict RFC 4180
 * split (../csv-tokenizer.ts, splitQuotedRecord) splits it; any other shape is SPLIT_CAREFUL, and SPLIT_RAN_OUT when
 * the bytes up to `scanEnd` do not finish the row.
 */
function splitQuotedRow(input: usize, s: i32, scanEnd: i32, numIdx: i32, denIdx: i32): i32 {
  quotedNumStart = -1;
  quotedNumEnd = -1;
  quotedDenStart = -1;
  quotedDenEnd = -1;
  let col = 0;
  let i = s;
  for (;;) {
    if (i >= scanEnd) return SPLIT_RAN_OUT;
    const fieldStart = i;
    let c = load<u8>(input + <usize>i);
    if (c === 34) {
      let escaped = false;
      i++;
      for (;;) {
        if (i >= scanEnd) return SPLIT_RAN_OUT;
        c = load<u8>(input + <usize>i);
        if (c === NL) return SPLIT_CAREFUL;
        i++;
        if (c !== 34) continue;
        if (i >= scanEnd) return SPLIT_RAN_OUT;
        if (load<u8>(input + <usize>i) !== 34) break;
        escaped = true; // "" inside the field
        i++;
      }
      // A wanted field's number lies between its quotes; one with "" in it is the careful path's to unescape.
      if (col === numIdx || col === denIdx) {
        if (escaped) return SPLIT_CAREFUL;
        if (col === numIdx) {
          quotedNumStart = fieldStart + 1;
          quotedNumEnd = i - 1;
        }
        if (col === denIdx) {
          quotedDenStart = fieldStart + 1;
          quotedDenEnd = i - 1;
        }
      }
      if (i >= scanEnd) return SPLIT_RAN_OUT;
      c = load<u8>(input + <usize>i);
      if (c === CR) {
        if (i + 1 >= scanEnd) return SPLIT_RAN_OUT;
        if (load<u8>(input + <usize>(i + 1)) !== NL) return SPLIT_CAREFUL;
        c = NL;
        i++;
      }
    } else {
      for (;;) {
        if (i >= scanEnd) return SPLIT_RAN_OUT;
        c = load<u8>(input + <usize>i);
        if (c === COMMA || c === NL) break;
        i++;
      }
      const fieldEnd = c === NL && i > fieldStart && load<u8>(input + <usize>(i - 1)) === CR ? i - 1 : i;
      if (col === numIdx) {
        quotedNumStart = fieldStart;
        quotedNumEnd = fieldEnd;
      }
      if (col === denIdx) {
        quotedDenStart = fieldStart;
        quotedDenEnd = fieldEnd;
      }
    }
    if (c === NL) {
      quotedNl = i;
      return quotedNumEnd < 0 || quotedDenEnd < 0 ? SPLIT_CAREFUL : SPLIT_OK;
    }
    if (c !== COMMA) return SPLIT_CAREFUL;
    col++;
    i++;
  }
  // biome-ignore lint/correctness/noUnreachable: AssemblyScript wants a return after the loop, which only returns.
  return SPLIT_CAREFUL;
}

/**
 * A plain decimal with at most 15 significant digits, read straight from the bytes as m / 10^k: both are exact
 * doubles, so this is one correctly rounded division, hence Number(text). NaN for anything else (whitespace,
 * exponents, more digits, junk, empty), which the careful path then reads.
 */
function plainNumber(input: usize, a: i32, b: i32): f64 {
  if (a >= b) return NaN;
  let i = a;
  let neg = false;
  const c0 = load<u8>(input + <usize>i);
  if (c0 === 45) {
    neg = true;
    i++;
  } else if (c0 === 43) {
    i++;
  }
  let m: f64 = 0;
  let digits = 0;
  let dot = -1;
  for (; i < b; i++) {
    const c = <i32>load<u8>(input + <usize>i);
    const d = c - 48;
    if (<u32>d <= 9) {
      m = m * 10 + <f64>d;
      digits++;
    } else if (c === 46 && dot === -1) {
      dot = digits;
    } else {
      return NaN;
    }
  }
  if (digits === 0 || digits > 15) return NaN;
  const x = dot === -1 || dot === digits ? m : m / pow10(digits - dot);
  return neg ? -x : x;
}
