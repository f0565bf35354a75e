/**
 * Crossing off, for the base primes whose state is kept per prime (sieve.ts): the small ones (a whole turn
 * of the wheel per segment) and the medium ones (a few multiples per segment). The large ones wait in
 * buckets (buckets.ts).
 *
 * The phases of a segment are separate small functions, not one loop body: V8 optimizes a small hot
 * function far better than the same loop inside a large one (measured: π(1e9) took twice as long as a
 * single function).
 */
import {
  CARRY as WHEEL_CARRY,
  GAP as WHEEL_GAP,
  MASK as WHEEL_MASK,
  OFFSET as WHEEL_OFFSET,
  WHEEL as WHEEL_RESIDUES,
} from './wheel.ts';

// Local bindings of the wheel's tables. V8 folds a module's own `const` into the optimized loops below, but
// an imported binding is read from its module cell at each use. Without these bindings, countPrimes(0, 3e9)
// took ~880 ms of CPU instead of ~600 ms (CPU time, unbundled under tsx). Keep them.
const CARRY = WHEEL_CARRY;
const GAP = WHEEL_GAP;
const MASK = WHEEL_MASK;
const OFFSET = WHEEL_OFFSET;
const WHEEL = WHEEL_RESIDUES;

/** Per-segment state of the sieving primes (those above the pre-sieved ones), index k for the k-th. */
export interface SievingPrimes {
  /** a = floor(p / 30). */
  a: Int32Array;
  /** 8 × the wheel index of p mod 30. */
  r8: Int32Array;
  /** Byte offset of the next multiple to cross off, from the start of the current segment. */
  next: Int32Array;
  /** Wheel index of that multiple's multiplier. */
  wheel: Int32Array;
}

/**
 * Primes below the segment size: at least one whole turn of the wheel (8 multiples) per segment.
 *
 * size: hot — over the ~80-line limit on purpose: the switch holds one unrolled loop per residue class of p
 * (eight copies, constants inlined), which is most of the sieve's run time; `npm run bench -- primes` shows
 * the cost of any change (a loop reading its masks from tables instead was ~30% slower).
 */
export function crossSmall(seg: Uint8Array, len: number, primes: SievingPrimes, from: number, to: number): void {
  const { a: primeA, r8: primeR8, next, wheel } = primes;
  for (let k = from; k < to; k++) {
    let j = next[k]!;
    let i = wheel[k]!;
    const a = primeA[k]!;
    const r8 = primeR8[k]!;
    // Up to the start of a wheel turn (multiplier ≡ 1 mod 30).
    while (i !== 0 && j < len) {
      seg[j]! |= MASK[r8 + i]!;
      j += a * GAP[i]! + CARRY[r8 + i]!;
      i = (i + 1) & 7;
    }
    if (i === 0) {
      // j is the byte of p·(30k+1); the other 7 multiples of this turn are at fixed distances. One loop
      // per residue class of p, so the bit masks and carries are constants: with them in registers
      // instead, V8 runs out of registers and this loop (most of the run time) is ~30% slower. `| 0`
      // spares V8 an overflow check per store; the sums stay far below 2^31.
      const p = 30 * a + WHEEL[r8 >> 3]!;
      const a6 = a * 6;
      const a10 = a * 10;
      const a12 = a * 12;
      const a16 = a * 16;
      const a18 = a * 18;
      const a22 = a * 22;
      const a28 = a * 28;
      const last = len - a28 - OFFSET[r8 + 7]!;
      switch (r8) {
        case 0:
          for (; j < last; j += p) {
            seg[j]! |= 1;
            seg[(j + a6) | 0]! |= 2;
            seg[(j + a10) | 0]! |= 4;
            seg[(j + a12) | 0]! |= 8;
            seg[(j + a16) | 0]! |= 16;
            seg[(j + a18) | 0]! |= 32;
            seg[(j + a22) | 0]! |= 64;
            seg[(j + a28) | 0]! |= 128;
          }
          break;
        case 8:
          for (; j < last; j += p) {
            seg[j]! |= 2;
            seg[(j + a6 + 1) | 0]! |= 32;
            seg[(j + a10 + 2) | 0]! |= 16;
            seg[(j + a12 + 3) | 0]! |= 1;
            seg[(j + a16 + 3) | 0]! |= 128;
            seg[(j + a18 + 4) | 0]! |= 8;
            seg[(j + a22 + 5) | 0]! |= 4;
            seg[(j + a28 + 6) | 0]! |= 64;
          }
          break;
        case 16:
          for (; j < last; j += p) {
            seg[j]! |= 4;
            seg[(j + a6 + 2) | 0]! |= 16;
            seg[(j + a10 + 4) | 0]! |= 1;
            seg[(j + a12 + 4) | 0]! |= 64;
            seg[(j + a16 + 6) | 0]! |= 2;
            seg[(j + a18 + 6) | 0]! |= 128;
            seg[(j + a22 + 8) | 0]! |= 8;
            seg[(j + a28 + 10) | 0]! |= 32;
          }
          break;
        case 24:
          for (; j < last; j += p) {
            seg[j]! |= 8;
            seg[(j + a6 + 3) | 0]! |= 1;
            seg[(j + a10 + 4) | 0]! |= 64;
            seg[(j + a12 + 5) | 0]! |= 32;
            seg[(j + a16 + 7) | 0]! |= 4;
            seg[(j + a18 + 8) | 0]! |= 2;
            seg[(j + a22 + 9) | 0]! |= 128;
            seg[(j + a28 + 12) | 0]! |= 16;
          }
          break;
        case 32:
          for (; j < last; j += p) {
            seg[j]! |= 16;
            seg[(j + a6 + 3) | 0]! |= 128;
            seg[(j + a10 + 6) | 0]! |= 2;
            seg[(j + a12 + 7) | 0]! |= 4;
            seg[(j + a16 + 9) | 0]! |= 32;
            seg[(j + a18 + 10) | 0]! |= 64;
            seg[(j + a22 + 13) | 0]! |= 1;
            seg[(j + a28 + 16) | 0]! |= 8;
          }
          break;
        case 40:
          for (; j < last; j += p) {
            seg[j]! |= 32;
            seg[(j + a6 + 4) | 0]! |= 8;
            seg[(j + a10 + 6) | 0]! |= 128;
            seg[(j + a12 + 8) | 0]! |= 2;
            seg[(j + a16 + 10) | 0]! |= 64;
            seg[(j + a18 + 12) | 0]! |= 1;
            seg[(j + a22 + 14) | 0]! |= 16;
            seg[(j + a28 + 18) | 0]! |= 4;
          }
          break;
        case 48:
          for (; j < last; j += p) {
            seg[j]! |= 64;
            seg[(j + a6 + 5) | 0]! |= 4;
            seg[(j + a10 + 8) | 0]! |= 8;
            seg[(j + a12 + 9) | 0]! |= 128;
            seg[(j + a16 + 13) | 0]! |= 1;
            seg[(j + a18 + 14) | 0]! |= 16;
            seg[(j + a22 + 17) | 0]! |= 32;
            seg[(j + a28 + 22) | 0]! |= 2;
          }
          break;
        case 56:
          for (; j < last; j += p) {
            seg[j]! |= 128;
            seg[(j + a6 + 6) | 0]! |= 64;
            seg[(j + a10 + 10) | 0]! |= 32;
            seg[(j + a12 + 12) | 0]! |= 16;
            seg[(j + a16 + 16) | 0]! |= 8;
            seg[(j + a18 + 18) | 0]! |= 4;
            seg[(j + a22 + 22) | 0]! |= 2;
            seg[(j + a28 + 28) | 0]! |= 1;
          }
          break;
      }
      while (j < len) {
        seg[j]! |= MASK[r8 + i]!;
        j += a * GAP[i]! + CARRY[r8 + i]!;
        i = (i + 1) & 7;
      }
    }
    next[k] = j - len;
    wheel[k] = i;
  }
}

/** Primes with a few multiples per segment. */
export function crossMedium(seg: Uint8Array, len: number, primes: SievingPrimes, from: number, to: number): void {
  const { a: primeA, r8: primeR8, next, wheel } = primes;
  for (let k = from; k < to; k++) {
    let j = next[k]!;
    if (j >= len) {
      next[k] = j - len;
      continue;
    }
    let i = wheel[k]!;
    const a = primeA[k]!;
    const r8 = primeR8[k]!;
    do {
      seg[j]! |= MASK[r8 + i]!;
      j += a * GAP[i]! + CARRY[r8 + i]!;
      i = (i + 1) & 7;
    } while (j < len);
    next[k] = j - len;
    wheel[k] = i;
  }
}
