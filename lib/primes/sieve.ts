/**
 * Exact prime counting and listing over any range [start, end) with 0 <= start <= end <= 2^53.
 *
 * A segmented sieve of Eratosthenes on a mod-30 wheel: each byte of a segment stands for 30 consecutive
 * numbers and its 8 bits for the residues coprime to 30 (1, 7, 11, 13, 17, 19, 23, 29), so 2, 3 and 5 never
 * cost anything and a segment of S bytes covers 30·S numbers. A set bit means "composite (or outside the
 * range)". Base primes up to sqrt(end) are computed once per call; then per segment:
 *   1. the multiples of the primes 7 to 79 are OR-ed in, a word at a time, from six periodic patterns;
 *   2. base primes below the segment size cross off with an 8-way unrolled loop (a turn of the wheel);
 *   3. base primes up to 15·S cross off with a table-driven loop, a few times per segment each;
 *   4. larger base primes hit a segment at most once, so they wait in buckets keyed by the segment of
 *      their next multiple (the bucket sieve), instead of being looked at in every segment;
 *   5. zero bits are counted 32 at a time (SWAR popcount) or, for listing, decoded.
 *
 * Numbers reach 2^53, beyond int32: segment positions are doubles (integers below 2^53 are exact), while
 * everything inside a segment (byte offsets, per-prime steps) is small and stays in int32 arithmetic.
 *
 * This file holds the range checks, the base primes and the segment loop; the wheel's tables are in
 * wheel.ts. Steps 1–5 are the segment kernel (kernel.ts): in WebAssembly by default (wasm-kernel.ts, built from
 * wasm/*.ts), or in JS (js-kernel.ts: step 1 in presieve.ts, steps 2 and 3 in cross-off.ts, step 4 in
 * buckets.ts), the reference the tests compare the WebAssembly kernel with.
 */
import { createKernel, type KernelName, type SegmentKernel } from './kernel.ts';
import { FIRST_SIEVING_PRIME, UNSIEVED_PRIMES } from './presieve.ts';
import { BIT_OF_RESIDUE, DIST_TO_WHEEL, INVERSE_MOD_30, NEXT_WHEEL_INDEX, WHEEL } from './wheel.ts';

export const MAX_PRIME_RANGE_END = 2 ** 53;
/** listPrimes builds a plain array; beyond this the array itself (8 bytes a prime) is the problem. */
export const MAX_LIST_RANGE = 10_000_000;

export interface SieveOptions {
  /**
   * Bytes per sieve segment (30 numbers a byte), rounded up to a multiple of 8. The default, 512 KiB,
   * half of a 1 MiB L2 cache, was the fastest for π(1e10) on an AMD EPYC (1 MiB L2 a core): 256 KiB was
   * ~8% slower, 1 MiB ~3%, 32 KiB (L1) ~65%, as per-prime overhead per segment outweighs L1 locality.
   */
  segmentBytes?: number;
  /** The segment kernel (kernel.ts): `wasm` by default, `js` for the reference. Same counts either way. */
  kernel?: KernelName;
}

const DEFAULT_SEGMENT_BYTES = 512 * 1024;
const MIN_SEGMENT_BYTES = 8;
/** Keeps byte offsets times 8 (bucket entries pack offset and wheel index) inside a uint32. */
const MAX_SEGMENT_BYTES = 1 << 26;

// ---------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------

function describe(value: unknown): string {
  return typeof value === 'number' ? String(value) : `${typeof value} ${JSON.stringify(value) ?? String(value)}`;
}

function checkBound(name: 'start' | 'end', value: number): void {
  if (typeof value !== 'number') throw new RangeError(`${name} must be a number, got ${describe(value)}`);
  if (Number.isNaN(value)) throw new RangeError(`${name} must be a number, got NaN`);
  if (!Number.isInteger(value)) throw new RangeError(`${name} must be a finite integer, got ${value}`);
  if (value < 0) throw new RangeError(`${name} must be >= 0, got ${value}`);
  if (value > MAX_PRIME_RANGE_END) {
    throw new RangeError(
      `${name} must be <= 2^53 (${MAX_PRIME_RANGE_END}), got ${value}; larger integers are not exact in a JavaScript number`,
    );
  }
}

/** Throws a RangeError saying what to fix unless [start, end) is a valid range of integers within [0, 2^53]. */
export function validateRange(start: number, end: number): void {
  checkBound('start', start);
  checkBound('end', end);
  if (start > end) {
    throw new RangeError(`start (${start}) must be <= end (${end}); the range is [start, end), end exclusive`);
  }
}

function resolveSegmentBytes(options: SieveOptions | undefined): number {
  const requested = options?.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  if (!Number.isInteger(requested) || requested < MIN_SEGMENT_BYTES || requested > MAX_SEGMENT_BYTES) {
    throw new RangeError(
      `segmentBytes must be an integer from ${MIN_SEGMENT_BYTES} to ${MAX_SEGMENT_BYTES}, got ${describe(requested)}`,
    );
  }
  return Math.ceil(requested / 8) * 8;
}

// ---------------------------------------------------------------------------------------------------
// Base primes
// ---------------------------------------------------------------------------------------------------

/** floor(sqrt(n)) exactly, for 0 <= n <= 2^53 (Math.sqrt can be one off for large n). */
function isqrt(n: number): number {
  let s = Math.floor(Math.sqrt(n));
  while (s * s > n) s--;
  while ((s + 1) * (s + 1) <= n) s++;
  return s;
}

/** Below this, base primes come from a plain sieve; above, from the segmented sieve itself. */
const PLAIN_SIEVE_LIMIT = 1 << 16;

/**
 * All primes <= limit (at most ~9.5e7, the square root of 2^53), ascending. Large limits reuse the
 * segmented sieve (its own base primes come from the plain one): a few MB instead of a byte per number,
 * and about 4x faster than an odd-only sieve near 2^53, where this runs on every call.
 */
function basePrimes(limit: number, kernelName: KernelName | undefined): Uint32Array {
  if (limit < 2) return new Uint32Array(0);
  if (limit < PLAIN_SIEVE_LIMIT) {
    const composite = new Uint8Array(limit + 1);
    const out: number[] = [];
    for (let n = 2; n <= limit; n++) {
      if (composite[n]) continue;
      out.push(n);
      for (let m = n * n; m <= limit; m += n) composite[m] = 1;
    }
    return Uint32Array.from(out);
  }
  // π(x) < 1.25506·x/ln x for x > 1 (Rosser & Schoenfeld).
  const out = new Uint32Array(Math.ceil((1.25506 * limit) / Math.log(limit)));
  let n = 0;
  for (const p of UNSIEVED_PRIMES) out[n++] = p;
  sieveSegments(0, limit + 1, DEFAULT_SEGMENT_BYTES, kernelName, (seg, len, firstByte) => {
    n = decodePrimes(seg, len, firstByte, out, n);
  });
  return out.subarray(0, n);
}

/** Writes the primes of a sieved segment (its clear bits) to out from index n; returns the new length. */
function decodePrimes(seg: Uint8Array, len: number, firstByte: number, out: Uint32Array | number[], n: number): number {
  for (let j = 0; j < len; j++) {
    let clear = ~seg[j]! & 0xff;
    if (clear === 0) continue;
    const base = (firstByte + j) * 30;
    for (let b = 0; clear !== 0; b++, clear >>>= 1) if (clear & 1) out[n++] = base + WHEEL[b]!;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------
// The segmented sieve
// ---------------------------------------------------------------------------------------------------

/**
 * Called once per segment after sieving: bits set in seg[0, len) are composites or outside the range;
 * the clear bits of seg[j] are the primes 30·(firstByte + j) + WHEEL[k]. Bytes from len up to the next
 * multiple of 4 are 0xff, so a visitor may read whole 32-bit words.
 */
type SegmentVisitor = (seg: Uint8Array, len: number, firstByte: number, kernel: SegmentKernel) => void;

/**
 * For the prime p = 30a + WHEEL[r], the first multiple p·q >= max(p², from) with q coprime to 30, packed
 * as (byte offset from from/30)·8 + wheel index of q. `from` is a multiple of 30 below 2^53.
 */
function firstMultiple(p: number, r: number, from: number): number {
  const square = p * p;
  if (square >= from) return Math.floor((square - from) / 30) * 8 + r;
  // from mod p without `%` on doubles, which V8 runs as a library call (~4x slower: it showed when
  // ranges near 2^53 start 5 million primes). The quotient's rounding can only make it one too large, and
  // then the product exceeds from: rem < 0. Only then can q·p pass 2^53 and be inexact, so use exact `%`.
  const q = Math.floor(from / p);
  let rem = from - q * p;
  if (rem < 0) rem = from % p;
  const toMultiple = rem === 0 ? 0 : p - rem;
  // from ≡ 0 (mod 30), so the multiplier of from + toMultiple is toMultiple / p (mod 30).
  const q30 = ((toMultiple % 30) * INVERSE_MOD_30[WHEEL[r]!]!) % 30;
  const offset = toMultiple + DIST_TO_WHEEL[q30]! * p;
  return Math.floor(offset / 30) * 8 + NEXT_WHEEL_INDEX[q30]!;
}

/** Where a range lies in bytes (30 numbers each) and how it is cut into segments. */
interface Layout {
  firstByte: number;
  endByte: number;
  /** firstByte rounded down to a multiple of 8: segments start there so the pre-sieve patterns are read in aligned words. */
  alignedFirst: number;
  segmentBytes: number;
  segmentCount: number;
}

function layoutOf(start: number, end: number, maxSegmentBytes: number): Layout {
  // Exact byte bounds: (x - x % 30) / 30 divides a multiple of 30, so no rounding near 2^53.
  const firstByte = (start - (start % 30)) / 30;
  const endByte = (end - (end % 30)) / 30 + (end % 30 === 0 ? 0 : 1);
  const alignedFirst = firstByte - (firstByte % 8);
  // No bigger than the range: a short range then allocates and clears only what it uses.
  const segmentBytes = Math.min(maxSegmentBytes, Math.ceil((endByte - alignedFirst) / 8) * 8);
  const segmentCount = Math.ceil((endByte - alignedFirst) / segmentBytes);
  return { firstByte, endByte, alignedFirst, segmentBytes, segmentCount };
}

/** The sieving primes (the base primes from primes[k0] on) in three classes. */
interface SievingSet {
  primes: Uint32Array;
  k0: number;
  count: number;
  smallEnd: number;
  mediumEnd: number;
}

function sievingSet(end: number, { segmentBytes }: Layout, kernelName: KernelName | undefined): SievingSet {
  const primes = basePrimes(isqrt(end - 1), kernelName);
  let k0 = 0;
  while (k0 < primes.length && primes[k0]! < FIRST_SIEVING_PRIME) k0++;
  const count = primes.length - k0;

  // Small: p < segment bytes, a whole wheel turn per segment. Medium: a few hits per segment. Large: the
  // smallest step between multiples, 2a bytes, spans a segment, so at most one hit per segment.
  let smallEnd = 0;
  while (smallEnd < count && primes[k0 + smallEnd]! < segmentBytes) smallEnd++;
  let mediumEnd = smallEnd;
  while (mediumEnd < count && 2 * Math.floor(primes[k0 + mediumEnd]! / 30) < segmentBytes) mediumEnd++;
  return { primes, k0, count, smallEnd, mediumEnd };
}

/** Lays out the kernel's state for the range: per-prime state of the small and medium primes, the buckets. */
function prepareKernel(kernel: SegmentKernel, set: SievingSet, { segmentBytes, segmentCount }: Layout): void {
  const { primes, k0, count, smallEnd, mediumEnd } = set;
  let ringSize = 1;
  if (mediumEnd < count) {
    // The farthest any entry is pushed ahead: a first multiple up to ~7p/30 bytes away, and never past
    // the range's last segment.
    const maxAhead = Math.min(
      Math.ceil((7 * Math.floor(primes[primes.length - 1]! / 30) + 16) / segmentBytes) + 2,
      segmentCount + 1,
    );
    while (ringSize < maxAhead) ringSize *= 2;
  }
  kernel.prepare({ segmentBytes, smallEnd, mediumEnd, largeCount: count - mediumEnd, ringSize });
  for (let k = 0; k < mediumEnd; k++) {
    const p = primes[k0 + k]!;
    kernel.setPrime(k, Math.floor(p / 30), BIT_OF_RESIDUE[p % 30]! * 8);
  }
}

/**
 * Activates, in order, the primes whose square lies below segHigh (this segment's end, or the range's),
 * from index `active` on; returns the new number of active primes.
 */
function activate(
  set: SievingSet,
  kernel: SegmentKernel,
  active: number,
  segStart: number,
  segHigh: number,
  segmentNumber: number,
  bytesLeft: number,
): number {
  const from = segStart * 30;
  while (active < set.count) {
    const p = set.primes[set.k0 + active]!;
    if (p * p >= segHigh) break;
    const a = Math.floor(p / 30);
    const r = BIT_OF_RESIDUE[p - 30 * a]!;
    const first = firstMultiple(p, r, from);
    const offset = Math.floor(first / 8);
    const wheel = first - offset * 8;
    if (active < set.mediumEnd) kernel.setNext(active, offset, wheel);
    else kernel.schedule(segmentNumber, bytesLeft, a * 8 + r, offset, wheel);
    active++;
  }
  return active;
}

/** Clips a sieved segment to [start, end): 1 is not prime, and the first and last bytes may reach outside the range. */
function clip(seg: Uint8Array, len: number, segStart: number, start: number, end: number, layout: Layout): void {
  const { firstByte, endByte, alignedFirst } = layout;
  if (segStart === 0) seg[0]! |= 1;
  if (segStart === alignedFirst) {
    const first = firstByte - alignedFirst;
    seg.fill(0xff, 0, first);
    const below = start - firstByte * 30;
    for (let b = 0; b < 8; b++) if (WHEEL[b]! < below) seg[first]! |= 1 << b;
  }
  if (segStart + len === endByte) {
    const limit = end - (endByte - 1) * 30;
    for (let b = 0; b < 8; b++) if (WHEEL[b]! >= limit) seg[len - 1]! |= 1 << b;
  }
  for (let pad = len; pad < ((len + 3) & ~3); pad++) seg[pad] = 0xff;
}

function sieveSegments(
  start: number,
  end: number,
  maxSegmentBytes: number,
  kernelName: KernelName | undefined,
  visit: SegmentVisitor,
): void {
  if (start >= end) return;
  const layout = layoutOf(start, end, maxSegmentBytes);
  const { endByte, alignedFirst, segmentBytes } = layout;
  // The base primes first: for a large range they come from a nested sieve, which uses a kernel of its own.
  const set = sievingSet(end, layout, kernelName);
  const { smallEnd, mediumEnd } = set;
  const kernel = createKernel(kernelName);
  prepareKernel(kernel, set, layout);
  const seg = kernel.seg;
  let active = 0;
  let segmentNumber = 0;

  for (let segStart = alignedFirst; segStart < endByte; segStart += segmentBytes, segmentNumber++) {
    const len = Math.min(segmentBytes, endByte - segStart);
    const bytesLeft = endByte - segStart;
    const segHigh = Math.min(end, segStart * 30 + len * 30);
    active = activate(set, kernel, active, segStart, segHigh, segmentNumber, bytesLeft);
    kernel.sieve(segStart, len, segmentNumber, bytesLeft, Math.min(active, smallEnd), Math.min(active, mediumEnd));
    clip(seg, len, segStart, start, end, layout);
    visit(seg, len, segStart, kernel);
  }
}

function countUnsievedPrimes(start: number, end: number): number {
  let n = 0;
  for (const p of UNSIEVED_PRIMES) if (p >= start && p < end) n++;
  return n;
}

/** The number of primes in [start, end): π(end - 1) - π(start - 1). */
export function countPrimes(start: number, end: number, options?: SieveOptions): number {
  validateRange(start, end);
  const segmentBytes = resolveSegmentBytes(options);
  let composites = 0;
  let candidates = 0;
  sieveSegments(start, end, segmentBytes, options?.kernel, (_seg, len, _firstByte, kernel) => {
    candidates += ((len + 3) >> 2) * 32;
    composites += kernel.countComposites(len);
  });
  return candidates - composites + countUnsievedPrimes(start, end);
}

/** The primes in [start, end), ascending. For ranges of at most 10,000,000 numbers. */
export function listPrimes(start: number, end: number, options?: SieveOptions): number[] {
  validateRange(start, end);
  if (end - start > MAX_LIST_RANGE) {
    throw new RangeError(
      `listPrimes takes ranges of at most ${MAX_LIST_RANGE.toLocaleString('en-US')} numbers, got ${end - start} ` +
        `([${start}, ${end})); split the range, or use countPrimes to count without listing`,
    );
  }
  const segmentBytes = resolveSegmentBytes(options);
  const out: number[] = [];
  for (const p of UNSIEVED_PRIMES) if (p >= start && p < end) out.push(p);
  sieveSegments(start, end, segmentBytes, options?.kernel, (seg, len, firstByte) => {
    decodePrimes(seg, len, firstByte, out, out.length);
  });
  return out;
}
