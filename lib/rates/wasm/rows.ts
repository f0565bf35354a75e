/**
 * AssemblyScript source of the rates engine's row kernel, compiled to build/rows.wasm by `npm run build:wasm` (run
 * by `npm install`/`npm ci` through `prepare`). It does for the plain rows — no quote byte, both wanted fields plain
 * decimals, a finite rate, a number String() would print without a tie rule — what the engine's careful path
 * (../rates-engine.ts, carefulRecord) does for every record: copy the row, append `,` + rate + `\n`, hand the rate to
 * the statistics. Any other record stops the kernel at its start, and the careful path takes that one record.
 * Why WebAssembly: in a fresh process (a cold Lambda container) V8 spends most of the first megabytes warming up
 * and deoptimising the JS loop; this code is compiled before the first row and reads 16 bytes per step.
 *
 * The JS side (../row-kernel.ts) lays out the memory: the input window, the output, the rates, the field state.
 * `run` reports through STATE: where it stopped, the output end, rates written, lines and rows passed (i32), and the
 * smallest and largest rate written (f64).
 */

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

/** 10^0 .. 10^22, every one an exact double. */
const POW10: usize = memory.data<f64>([
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
  1e21, 1e22,
]);
const IPOW10: usize = memory.data<i32>([1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000]);
const DIGIT_PAIRS: usize = memory.data(200);
for (let i = 0; i < 100; i++) {
  store<u8>(DIGIT_PAIRS + ((<usize>i) << 1), <u8>(48 + i / 10));
  store<u8>(DIGIT_PAIRS + ((<usize>i) << 1) + 1, <u8>(48 + (i % 10)));
}

/** Where the kernel reports (see the STATE_* offsets in ../row-kernel.ts, which must match). */
const STATE: usize = memory.data(40);

export function heapBase(): usize {
  return __heap_base;
}

export function state(): usize {
  return STATE;
}

function pow10(i: i32): f64 {
  return load<f64>(POW10 + ((<usize>i) << 3));
}

function ipow10(i: i32): i32 {
  return load<i32>(IPOW10 + ((<usize>i) << 2));
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

const SPLITTER: f64 = 134217729;
const TWO53: f64 = 9007199254740992;

/** Is candidate c (relative to phi) inside (plo - hl, plo + hu)? 1 yes, 0 no, -1 exactly on an end. */
function inInterval(c: f64, plo: f64, hl: f64, hu: f64): i32 {
  const a = c + hl;
  const b = c - hu;
  if (a > plo && b < plo) return 1;
  return a === plo || b === plo ? -1 : 0;
}

/**
 * Writes exactly the bytes of `String(x)` at `at` and returns how many, or -1 when String() has to decide.
 *
 * String(x) is the shortest decimal that reads back as x (the closest one if several). Building it with String()
 * and copying it was over half the cost of the whole job, so for 1e-4 <= |x| < 1e16 it is found here with exact
 * double arithmetic instead: scale by T = 10^p so that P = x*T lies in [2^53, 1e17]; then P = phi + plo exactly
 * (Dekker's product; phi is an integer), and x's rounding interval, scaled, is (P - hl, P + hu) with
 * hu = ulp(x)/2 * T exact (hl = hu/2 at a power of two). The answer has the most trailing zeros of any integer in
 * that interval and, among those, is closest to P. With p <= 20 every quantity compared (candidate offsets within
 * ±32 of phi, plo, hl, hu) is an exactly representable double, so the comparisons are exact. If a candidate sits
 * exactly on an end of the interval, or two candidates are equally close, the answer would depend on tie rules: -1,
 * and the engine's careful path prints String(x). Tests compare this with String() on millions of values
 * (test/lib/rates/row-kernel.test.ts).
 *
 * size: hot — longer than the ~80 lines asked of functions, on purpose: it runs once per output row.
 */
function writeShortest(x: f64, at: usize): i32 {
  if (x === 0) {
    store<u8>(at, 48);
    return 1;
  }
  let neg = false;
  if (x < 0) {
    neg = true;
    x = -x;
  }
  if (!(x >= 1e-4 && x < 1e16)) return -1;
  const bits = reinterpret<u64>(x);
  const hiWord = <i32>(bits >>> 32);
  const E = (hiWord >>> 20) & 0x7ff;
  let p = 16 - <i32>Math.floor(<f64>(E - 1023) * 0.30102999566398114);
  let phi = x * pow10(p);
  if (phi >= 1e17) {
    p--;
    phi = x * pow10(p);
  }
  if (!(phi >= TWO53 && phi <= 1e17) || p > 20) return -1;
  const T = pow10(p);
  const tc = SPLITTER * T;
  const th = tc - (tc - T);
  const tl = T - th;
  const cx = SPLITTER * x;
  const xh = cx - (cx - x);
  const xl = x - xh;
  const plo = xh * th - phi + xh * tl + xl * th + xl * tl;
  // Half the spacing of doubles with biased exponent E: 2^(E - 1076), a normal double for every x here.
  const hu = reinterpret<f64>((<u64>(E - 1076 + 1023)) << 52) * T;
  const hl = (hiWord & 0xfffff) === 0 && <u32>bits === 0 ? hu / 2 : hu;

  let q = Math.floor(phi / 1e9);
  let r = phi - q * 1e9;
  if (r < 0) {
    r += 1e9;
    q -= 1;
  } else if (r >= 1e9) {
    r -= 1e9;
    q += 1;
  }
  const ri = <i32>r;
  const qi = <i32>q;

  let c: f64;
  const rem1 = ri % 10;
  const v = plo + <f64>rem1;
  const below: f64 = <f64>((v >= 10 ? 10 : v >= 0 ? 0 : -10) - rem1);
  const above = below + 10;
  const wb = below + hl === plo ? -1 : below + hl > plo ? 1 : 0;
  const wa = above - hu === plo ? -1 : above - hu < plo ? 1 : 0;
  if (wb < 0 || wa < 0) return -1;
  if (wb !== 0 || wa !== 0) {
    if (wb !== 0 && wa !== 0) {
      const mid = below + 5;
      if (plo < mid) c = below;
      else if (plo > mid) c = above;
      else return -1;
    } else {
      c = wb !== 0 ? below : above;
    }
    let rem: f64 = <f64>(ri % 100);
    for (let j = 2; j <= 16; ) {
      const t = pow10(j);
      if (!(rem <= 20 || t - rem <= 20)) break;
      const cand = rem <= 20 ? -rem : t - rem;
      const w = inInterval(cand, plo, hl, hu);
      if (w < 0) return -1;
      if (w === 0) break;
      c = cand;
      j++;
      rem = j <= 9 ? <f64>(ri % ipow10(j)) : <f64>(qi % ipow10(j - 9)) * 1e9 + <f64>ri;
    }
  } else {
    const f = Math.floor(plo);
    const w1 = f + hl === plo ? -1 : f + hl > plo ? 1 : 0;
    const w2 = f + 1 - hu === plo ? -1 : f + 1 - hu < plo ? 1 : 0;
    if (w1 < 0 || w2 < 0) return -1;
    if (w1 !== 0 && w2 !== 0) {
      const mid = f + 0.5;
      if (plo < mid) c = f;
      else if (plo > mid) c = f + 1;
      else return -1;
    } else if (w1 !== 0) {
      c = f;
    } else if (w2 !== 0) {
      c = f + 1;
    } else {
      return -1;
    }
  }

  // The digits of M = phi + c = hi * 1e9 + lo.
  let lo = ri + <i32>c;
  let hi = qi;
  if (lo < 0) {
    lo += 1000000000;
    hi -= 1;
  } else if (lo >= 1000000000) {
    lo -= 1000000000;
    hi += 1;
  }
  const nd = (hi >= 100000000 ? 9 : hi >= 10000000 ? 8 : 7) + 9;
  let tz = 0;
  if (lo === 0) {
    tz = 9;
    for (let h = hi; h % 10 === 0; h = h / 10) tz++;
  } else {
    for (let l = lo; l % 10 === 0; l = l / 10) tz++;
  }
  const k = nd - tz;
  // Number::toString layout for 1e-7 <= x < 1e21: the decimal point goes after n digits.
  const n = nd - p;

  let o = at;
  if (neg) store<u8>(o++, 45);
  let d = o;
  if (n <= 0) {
    store<u8>(d++, 48);
    store<u8>(d++, 46);
    for (let i = n; i < 0; i++) store<u8>(d++, 48);
  }
  // k significant digits, written right to left into [d, d + k).
  let w = d + <usize>k;
  let h = hi;
  if (tz < 9) {
    let l = lo;
    for (let t = 0; t < tz; t++) l = l / 10;
    let count = 9 - tz;
    for (; count >= 2; count -= 2) {
      const q2 = l / 100;
      const pair = DIGIT_PAIRS + ((<usize>(l - q2 * 100)) << 1);
      w -= 2;
      store<u16>(w, load<u16>(pair));
      l = q2;
    }
    if (count === 1) store<u8>(--w, <u8>(48 + l));
  } else {
    for (let t = 9; t < tz; t++) h = h / 10;
  }
  for (; h >= 100; ) {
    const q2 = h / 100;
    w -= 2;
    store<u16>(w, load<u16>(DIGIT_PAIRS + ((<usize>(h - q2 * 100)) << 1)));
    h = q2;
  }
  if (h >= 10) {
    w -= 2;
    store<u16>(w, load<u16>(DIGIT_PAIRS + ((<usize>h) << 1)));
  } else {
    store<u8>(--w, <u8>(48 + h));
  }

  let last: usize;
  if (n <= 0) {
    last = d + <usize>k;
  } else if (n >= k) {
    for (let i = k; i < n; i++) store<u8>(d + <usize>i, 48);
    last = d + <usize>n;
  } else {
    // 0 < n < k: open a gap for the point.
    for (let i = d + <usize>k; i > d + <usize>n; i--) store<u8>(i, load<u8>(i - 1));
    store<u8>(d + <usize>n, 46);
    last = d + <usize>k + 1;
  }
  return <i32>(last - at);
}
