/**
 * Shortest round-trip number formatting: the bytes of `String(x)` without building a string (see
 * writeShortestNumber for how and why).
 */
import { F64, HI, LO, POW10, U32 } from './float-bits.ts';

/** 2^27 + 1: Veltkamp splitting constant for Dekker's exact product. */
const SPLITTER = 134217729;
const P10_HI = POW10.map((t) => {
  const c = SPLITTER * t;
  return c - (c - t);
});
const P10_LO = POW10.map((t, i) => t - (P10_HI[i] as number));
/** HALF_ULP[E] = 2^(E - 1076): half the spacing of doubles with biased exponent E. */
const HALF_ULP = new Float64Array(2048);
for (let E = 1076, v = 1; E >= 1; E--, v /= 2) HALF_ULP[E] = v;
for (let E = 1076, v = 1; E < 2047; E++, v *= 2) HALF_ULP[E] = v;
/** Int32 powers so `%` stays an integer operation (a double `%` is a slow fmod call). */
const IPOW10 = Int32Array.from({ length: 10 }, (_, i) => 10 ** i);
const DIGIT_PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  DIGIT_PAIRS[2 * i] = 48 + Math.floor(i / 10);
  DIGIT_PAIRS[2 * i + 1] = 48 + (i % 10);
}
const TWO53 = 9007199254740992;

/** Is candidate c (relative to phi) inside (plo - hl, plo + hu)? 1 yes, 0 no, -1 exactly on an end. */
function inInterval(c: number, plo: number, hl: number, hu: number): number {
  const a = c + hl;
  const b = c - hu;
  if (a > plo && b < plo) return 1;
  return a === plo || b === plo ? -1 : 0;
}

/**
 * Writes exactly the bytes of `String(x)` at `o` and returns the offset after them.
 *
 * String(x) is the shortest decimal that reads back as x (the closest one if several). Building it with
 * String() and copying it was over half the cost of the whole job, so for 1e-4 <= |x| < 1e16 it is found
 * here with exact double arithmetic instead: scale by T = 10^p so that P = x*T lies in [2^53, 1e17]; then
 * P = phi + plo exactly (Dekker's product; phi is an integer), and x's rounding interval, scaled, is
 * (P - hl, P + hu) with hu = ulp(x)/2 * T exact (hl = hu/2 at a power of two). The answer has the most
 * trailing zeros of any integer in that interval and, among those, is closest to P. With p <= 20 every
 * quantity compared (candidate offsets within ±32 of phi, plo, hl, hu) is an exactly representable double,
 * so the comparisons are exact. If a candidate sits exactly on an end of the interval, or two candidates
 * are equally close, the answer would depend on tie rules, so String(x) decides. Tests compare this with
 * String() on millions of values.
 */
export function writeShortestNumber(x: number, ob: Uint8Array, o: number): number {
  const end = writeShortestFast(x, ob, o);
  if (end >= 0) return end;
  const str = String(x);
  for (let i = 0; i < str.length; i++) ob[o++] = str.charCodeAt(i);
  return o;
}

/**
 * The fast path of writeShortestNumber; -1 when String() has to decide.
 *
 * size: hot — longer than the ~80 lines asked of functions, on purpose: it runs once per output row. Split into candidate
 * selection and digit writing (two calls), it formatted 2M rates in 135 ms instead of 111 ms (min of 12, in one
 * process, 2026-12-03); the rates-core benchmark (`npm run bench -- rates-core`) is the end-to-end check.
 */
function writeShortestFast(x: number, ob: Uint8Array, o: number): number {
  if (x === 0) {
    ob[o] = 48;
    return o + 1;
  }
  let neg = false;
  if (x < 0) {
    neg = true;
    x = -x;
  }
  if (!(x >= 1e-4 && x < 1e16)) return -1;
  F64[0] = x;
  const hiWord = U32[HI] as number;
  const E = (hiWord >>> 20) & 0x7ff;
  // floor(log10 x) is floor(e2 * log10(2)) or one more; one correction step fixes p.
  let p = 16 - Math.floor((E - 1023) * 0.30102999566398114);
  let phi = x * (POW10[p] as number);
  if (phi >= 1e17) {
    p--;
    phi = x * (POW10[p] as number);
  }
  if (!(phi >= TWO53 && phi <= 1e17) || p > 20) return -1;
  const T = POW10[p] as number;
  const th = P10_HI[p] as number;
  const tl = P10_LO[p] as number;
  const cx = SPLITTER * x;
  const xh = cx - (cx - x);
  const xl = x - xh;
  const plo = xh * th - phi + xh * tl + xl * th + xl * tl;
  const hu = (HALF_ULP[E] as number) * T;
  const hl = (hiWord & 0xfffff) === 0 && U32[LO] === 0 ? hu / 2 : hu;

  // phi = q * 1e9 + r exactly: q * 1e9 is exact (< 2^53 significant bits) and one correction fixes the floor.
  let q = Math.floor(phi / 1e9);
  let r = phi - q * 1e9;
  if (r < 0) {
    r += 1e9;
    q -= 1;
  } else if (r >= 1e9) {
    r -= 1e9;
    q += 1;
  }
  const ri = r | 0;
  const qi = q | 0;

  let c: number;
  // Multiples of 10 just below and above P.
  const rem1 = ri % 10;
  // plo + rem1 is exact and within [-8, 18], so comparisons replace a division and a floor.
  const v = plo + rem1;
  const below = (v >= 10 ? 10 : v >= 0 ? 0 : -10) - rem1;
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
    // The interval is narrower than 100, so from here on there is at most one candidate per power.
    // j = 2 is tried on almost every call, so it gets a constant divisor (an integer % by a variable is slow).
    let rem = ri % 100;
    for (let j = 2; j <= 16; ) {
      const t = POW10[j] as number;
      const cand = rem <= 20 ? -rem : t - rem <= 20 ? t - rem : NaN;
      if (Number.isNaN(cand)) break;
      const w = inInterval(cand, plo, hl, hu);
      if (w < 0) return -1;
      if (w === 0) break;
      c = cand;
      j++;
      rem = j <= 9 ? ri % (IPOW10[j] as number) : (qi % (IPOW10[j - 9] as number)) * 1e9 + ri;
    }
  } else {
    // No multiple of 10 fits: 17 digits, the integer nearest P.
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

  // The digits of M = phi + c = hi * 1e9 + lo (`| 0` keeps everything in int32 arithmetic).
  let lo = (ri + c) | 0;
  let hi = qi;
  if (lo < 0) {
    lo = (lo + 1000000000) | 0;
    hi = (hi - 1) | 0;
  } else if (lo >= 1000000000) {
    lo = (lo - 1000000000) | 0;
    hi = (hi + 1) | 0;
  }
  const nd = (hi >= 100000000 ? 9 : hi >= 10000000 ? 8 : 7) + 9;
  let tz = 0;
  if (lo === 0) {
    tz = 9;
    for (let h = hi; h % 10 === 0; h = (h / 10) | 0) tz++;
  } else {
    for (let l = lo; l % 10 === 0; l = (l / 10) | 0) tz++;
  }
  const k = nd - tz;
  // Number::toString layout for 1e-7 <= x < 1e21: the decimal point goes after n digits.
  const n = nd - p;

  if (neg) ob[o++] = 45;
  let at = o;
  if (n <= 0) {
    ob[at++] = 48;
    ob[at++] = 46;
    for (let i = n; i < 0; i++) ob[at++] = 48;
  }
  // k significant digits, written right to left into [at, at + k).
  let w = at + k;
  let h = hi;
  if (tz < 9) {
    let l = lo;
    for (let t = 0; t < tz; t++) l = (l / 10) | 0;
    let count = 9 - tz;
    for (; count >= 2; count -= 2) {
      const q2 = (l / 100) | 0;
      const pair = (l - q2 * 100) << 1;
      ob[--w] = DIGIT_PAIRS[pair + 1] as number;
      ob[--w] = DIGIT_PAIRS[pair] as number;
      l = q2;
    }
    if (count === 1) ob[--w] = 48 + l;
  } else {
    for (let t = 9; t < tz; t++) h = (h / 10) | 0;
  }
  for (; h >= 100; ) {
    const q2 = (h / 100) | 0;
    const pair = (h - q2 * 100) << 1;
    ob[--w] = DIGIT_PAIRS[pair + 1] as number;
    ob[--w] = DIGIT_PAIRS[pair] as number;
    h = q2;
  }
  if (h >= 10) {
    ob[--w] = DIGIT_PAIRS[(h << 1) + 1] as number;
    ob[--w] = DIGIT_PAIRS[h << 1] as number;
  } else {
    ob[--w] = 48 + h;
  }

  if (n <= 0) return at + k;
  if (n >= k) {
    for (let i = k; i < n; i++) ob[at + i] = 48;
    return at + n;
  }
  // 0 < n < k: open a gap for the point.
  for (let i = at + k; i > at + n; i--) ob[i] = ob[i - 1] as number;
  ob[at + n] = 46;
  return at + k + 1;
}
