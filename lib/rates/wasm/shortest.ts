/**
 * AssemblyScript (compiled into build/rows.wasm with rows.ts): the rate printed exactly as `String(x)` prints it,
 * straight into the output bytes, and the exact powers of ten the row kernel's number reader shares.
 */

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

export function pow10(i: i32): f64 {
  return load<f64>(POW10 + ((<usize>i) << 3));
}

function ipow10(i: i32): i32 {
  return load<i32>(IPOW10 + ((<usize>i) << 2));
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
export function writeShortest(x: f64, at: usize): i32 {
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
