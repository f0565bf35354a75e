/**
 * AssemblyScript source of the sieve's segment kernel, compiled to build/sieve.wasm by `npm run build:wasm`
 * (run by `npm install`/`npm ci` through `prepare`). It does what ../presieve.ts, ../cross-off.ts and
 * ../buckets.ts do in JS, on memory laid out by ../wasm-kernel.ts; the JS kernel stays the reference the tests
 * compare it with. Why WebAssembly: V8's crossing-off loop pays a bounds check and a tagged-index check per store;
 * here a store is one `i32.store8` whose bounds check the engine folds into guard pages.
 *
 * The per-prime state is four i32 per prime, interleaved (a = floor(p/30), 8 × the wheel index of p, the byte
 * offset of the next multiple from the segment's start, the wheel index of its multiplier), so one cache line
 * holds four primes' state.
 */
import { at, CARRY, GAP, MASK, OFFSET, WHEEL } from './tables';

export { bucketsInit, crossLarge, schedule } from './buckets';

/** The first byte past the module's static data: the JS side lays out its memory from here up. */
export function heapBase(): usize {
  return __heap_base;
}

/**
 * Step 1 of a segment: ORs the six pre-sieve patterns (each already offset to this segment's phase) over
 * `bytes` bytes, rounded up to 16 (the JS side leaves room for it), 16 bytes at a time.
 */
export function presieve(seg: usize, bytes: i32, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize): void {
  for (let o: usize = 0; o < <usize>bytes; o += 16) {
    const x = v128.or(v128.or(v128.load(a + o), v128.load(b + o)), v128.or(v128.load(c + o), v128.load(d + o)));
    v128.store(seg + o, v128.or(x, v128.or(v128.load(e + o), v128.load(f + o))));
  }
}

/** The set bits of seg[0, bytes), bytes a multiple of 4: the composites (and numbers outside the range). */
export function countComposites(seg: usize, bytes: i32): i32 {
  let total: i64 = 0;
  const end = seg + <usize>bytes;
  let p = seg;
  for (; p + 8 <= end; p += 8) total += popcnt<i64>(load<i64>(p));
  if (p < end) total += <i64>popcnt<i32>(load<i32>(p));
  return <i32>total;
}

/** Primes with a few multiples per segment: states [from, to). */
export function crossMedium(seg: usize, len: i32, state: usize, from: i32, to: i32): void {
  for (let s = state + ((<usize>from) << 4), end = state + ((<usize>to) << 4); s < end; s += 16) {
    let j = load<i32>(s, 8);
    if (j >= len) {
      store<i32>(s, j - len, 8);
      continue;
    }
    const a = load<i32>(s);
    const r8 = load<i32>(s, 4);
    let i = load<i32>(s, 12);
    do {
      const q = seg + <usize>j;
      store<u8>(q, load<u8>(q) | <u8>at(MASK, r8 + i));
      j += a * at(GAP, i) + at(CARRY, r8 + i);
      i = (i + 1) & 7;
    } while (j < len);
    store<i32>(s, j - len, 8);
    store<i32>(s, i, 12);
  }
}

/**
 * Primes below the segment size, states [from, to): at least one whole turn of the wheel (8 multiples) per
 * segment. One unrolled loop per residue class of p, as in ../cross-off.ts, with the masks and the in-byte carries
 * as immediates of the loads and stores.
 *
 * size: hot — over the ~80-line limit on purpose (eight unrolled copies); `npm run bench -- primes` measures it.
 */
export function crossSmall(seg: usize, len: i32, state: usize, from: i32, to: i32): void {
  for (let s = state + ((<usize>from) << 4), stop = state + ((<usize>to) << 4); s < stop; s += 16) {
    const a = load<i32>(s);
    const r8 = load<i32>(s, 4);
    let j = load<i32>(s, 8);
    let i = load<i32>(s, 12);
    // Up to the start of a wheel turn (multiplier ≡ 1 mod 30).
    while (i !== 0 && j < len) {
      const q = seg + <usize>j;
      store<u8>(q, load<u8>(q) | <u8>at(MASK, r8 + i));
      j += a * at(GAP, i) + at(CARRY, r8 + i);
      i = (i + 1) & 7;
    }
    if (i === 0) {
      const p = 30 * a + at(WHEEL, r8 >> 3);
      const a6 = <usize>(a * 6);
      const a10 = <usize>(a * 10);
      const a12 = <usize>(a * 12);
      const a16 = <usize>(a * 16);
      const a18 = <usize>(a * 18);
      const a22 = <usize>(a * 22);
      const a28 = <usize>(a * 28);
      const last = len - a * 28 - at(OFFSET, r8 + 7);
      switch (r8) {
        case 0:
          for (; j < last; j += p) {
            const q = seg + <usize>j;
            store<u8>(q, load<u8>(q, 0) | 1, 0);
            store<u8>(q + a6, load<u8>(q + a6, 0) | 2, 0);
            store<u8>(q + a10, load<u8>(q + a10, 0) | 4, 0);
            store<u8>(q + a12, load<u8>(q + a12, 0) | 8, 0);
            store<u8>(q + a16, load<u8>(q + a16, 0) | 16, 0);
            store<u8>(q + a18, load<u8>(q + a18, 0) | 32, 0);
            store<u8>(q + a22, load<u8>(q + a22, 0) | 64, 0);
            store<u8>(q + a28, load<u8>(q + a28, 0) | 128, 0);
          }
          break;
        case 8:
          for (; j < last; j += p) {
            const q = seg + <usize>j;
            store<u8>(q, load<u8>(q, 0) | 2, 0);
            store<u8>(q + a6, load<u8>(q + a6, 1) | 32, 1);
            store<u8>(q + a10, load<u8>(q + a10, 2) | 16, 2);
            store<u8>(q + a12, load<u8>(q + a12, 3) | 1, 3);
            store<u8>(q + a16, load<u8>(q + a16, 3) | 128, 3);
            store<u8>(q + a18, load<u8>(q + a18, 4) | 8, 4);
            store<u8>(q + a22, load<u8>(q + a22, 5) | 4, 5);
            store<u8>(q + a28, load<u8>(q + a28, 6) | 64, 6);
          }
          break;
        case 16:
          for (; j < last; j += p) {
            const q = seg + <usize>j;
            store<u8>(q, load<u8>(q, 0) | 4, 0);
            store<u8>(q + a6, load<u8>(q + a6, 2) | 16, 2);
            store<u8>(q + a10, load<u8>(q + a10, 4) | 1, 4);
            store<u8>(q + a12, load<u8>(q + a12, 4) | 64, 4);
            store<u8>(q + a16, load<u8>(q + a16, 6) | 2, 6);
            store<u8>(q + a18, load<u8>(q + a18, 6) | 128, 6);
            store<u8>(q + a22, load<u8>(q + a22, 8) | 8, 8);
            store<u8>(q + a28, load<u8>(q + a28, 10) | 32, 10);
          }
          break;
        case 24:
          for (; j < last; j += p) {
            const q = seg + <usize>j;
            store<u8>(q, load<u8>(q, 0) | 8, 0);
            store<u8>(q + a6, load<u8>(q + a6, 3) | 1, 3);
            store<u8>(q + a10, load<u8>(q + a10, 4) | 64, 4);
            store<u8>(q + a12, load<u8>(q + a12, 5) | 32, 5);
            store<u8>(q + a16, load<u8>(q + a16, 7) | 4, 7);
            store<u8>(q + a18, load<u8>(q + a18, 8) | 2, 8);
            store<u8>(q + a22, load<u8>(q + a22, 9) | 128, 9);
            store<u8>(q + a28, load<u8>(q + a28, 12) | 16, 12);
          }
          break;
        case 32:
          for (; j < last; j += p) {
            const q = seg + <usize>j;
            store<u8>(q, load<u8>(q, 0) | 16, 0);
            store<u8>(q + a6, load<u8>(q + a6, 3) | 128, 3);
            store<u8>(q + a10, load<u8>(q + a10, 6) | 2, 6);
            store<u8>(q + a12, load<u8>(q + a12, 7) | 4, 7);
            store<u8>(q + a16, load<u8>(q + a16, 9) | 32, 9);
            store<u8>(q + a18, load<u8>(q + a18, 10) | 64, 10);
            store<u8>(q + a22, load<u8>(q + a22, 13) | 1, 13);
            store<u8>(q + a28, load<u8>(q + a28, 16) | 8, 16);
          }
          break;
        case 40:
          for (; j < last; j += p) {
            const q = seg + <usize>j;
            store<u8>(q, load<u8>(q, 0) | 32, 0);
            store<u8>(q + a6, load<u8>(q + a6, 4) | 8, 4);
            store<u8>(q + a10, load<u8>(q + a10, 6) | 128, 6);
            store<u8>(q + a12, load<u8>(q + a12, 8) | 2, 8);
            store<u8>(q + a16, load<u8>(q + a16, 10) | 64, 10);
            store<u8>(q + a18, load<u8>(q + a18, 12) | 1, 12);
            store<u8>(q + a22, load<u8>(q + a22, 14) | 16, 14);
            store<u8>(q + a28, load<u8>(q + a28, 18) | 4, 18);
          }
          break;
        case 48:
          for (; j < last; j += p) {
            const q = seg + <usize>j;
            store<u8>(q, load<u8>(q, 0) | 64, 0);
            store<u8>(q + a6, load<u8>(q + a6, 5) | 4, 5);
            store<u8>(q + a10, load<u8>(q + a10, 8) | 8, 8);
            store<u8>(q + a12, load<u8>(q + a12, 9) | 128, 9);
            store<u8>(q + a16, load<u8>(q + a16, 13) | 1, 13);
            store<u8>(q + a18, load<u8>(q + a18, 14) | 16, 14);
            store<u8>(q + a22, load<u8>(q + a22, 17) | 32, 17);
            store<u8>(q + a28, load<u8>(q + a28, 22) | 2, 22);
          }
          break;
        case 56:
          for (; j < last; j += p) {
            const q = seg + <usize>j;
            store<u8>(q, load<u8>(q, 0) | 128, 0);
            store<u8>(q + a6, load<u8>(q + a6, 6) | 64, 6);
            store<u8>(q + a10, load<u8>(q + a10, 10) | 32, 10);
            store<u8>(q + a12, load<u8>(q + a12, 12) | 16, 12);
            store<u8>(q + a16, load<u8>(q + a16, 16) | 8, 16);
            store<u8>(q + a18, load<u8>(q + a18, 18) | 4, 18);
            store<u8>(q + a22, load<u8>(q + a22, 22) | 2, 22);
            store<u8>(q + a28, load<u8>(q + a28, 28) | 1, 28);
          }
          break;
      }
      while (j < len) {
        const q = seg + <usize>j;
        store<u8>(q, load<u8>(q) | <u8>at(MASK, r8 + i));
        j += a * at(GAP, i) + at(CARRY, r8 + i);
        i = (i + 1) & 7;
      }
    }
    store<i32>(s, j - len, 8);
    store<i32>(s, i, 12);
  }
}
