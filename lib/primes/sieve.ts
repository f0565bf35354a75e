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
 */

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
}

const DEFAULT_SEGMENT_BYTES = 512 * 1024;
const MIN_SEGMENT_BYTES = 8;
/** Keeps byte offsets times 8 (bucket entries pack offset and wheel index) inside a uint32. */
const MAX_SEGMENT_BYTES = 1 << 26;

// ---------------------------------------------------------------------------------------------------
// The wheel
// ---------------------------------------------------------------------------------------------------

const WHEEL = [1, 7, 11, 13, 17, 19, 23, 29] as const;
/** Bit index of each residue mod 30, or -1 when the residue shares a factor with 30. */
const BIT_OF_RESIDUE = new Int8Array(30).fill(-1);
WHEEL.forEach((w, k) => (BIT_OF_RESIDUE[w] = k));

/**
 * For a prime p = 30a + WHEEL[r] and a multiplier q = 30k + WHEEL[i], the multiple p·q lies in byte
 * k·p + a·WHEEL[i] + floor(WHEEL[r]·WHEEL[i] / 30) at bit MASK[r·8+i]. Moving q to the next residue adds
 * a·GAP[i] + CARRY[r·8+i] bytes. OFFSET[r·8+i] = floor(WHEEL[r]·WHEEL[i] / 30).
 */
const GAP = new Int32Array(8);
const CARRY = new Int32Array(64);
const OFFSET = new Int32Array(64);
const MASK = new Int32Array(64);
for (let i = 0; i < 8; i++) GAP[i] = (i === 7 ? 31 : WHEEL[i + 1]!) - WHEEL[i]!;
for (let r = 0; r < 8; r++) {
  for (let i = 0; i < 8; i++) {
    const wr = WHEEL[r]!;
    const wi = WHEEL[i]!;
    const wNext = i === 7 ? 31 : WHEEL[i + 1]!;
    OFFSET[r * 8 + i] = Math.floor((wr * wi) / 30);
    CARRY[r * 8 + i] = Math.floor((wr * wNext) / 30) - Math.floor((wr * wi) / 30);
    MASK[r * 8 + i] = 1 << BIT_OF_RESIDUE[(wr * wi) % 30]!;
  }
}
/** Multiplicative inverse mod 30 of each wheel residue, to find the multiplier of a known multiple. */
const INVERSE_MOD_30 = new Int32Array(30);
for (const w of WHEEL) for (let x = 1; x < 30; x++) if ((w * x) % 30 === 1) INVERSE_MOD_30[w] = x;
/** From residue x mod 30, how far to the next wheel residue (0 if x is one) and that residue's index. */
const DIST_TO_WHEEL = new Int32Array(30);
const NEXT_WHEEL_INDEX = new Int32Array(30);
for (let x = 0; x < 30; x++) {
  let d = 0;
  while (BIT_OF_RESIDUE[(x + d) % 30]! < 0) d++;
  DIST_TO_WHEEL[x] = d;
  NEXT_WHEEL_INDEX[x] = BIT_OF_RESIDUE[(x + d) % 30]!;
}

/**
 * Pre-sieving: the multiples of the smallest primes repeat with a period of their product (in bytes), so
 * they are OR-ed in 32 bits at a time from precomputed patterns instead of being crossed off one by one.
 * For a prime p crossing off costs 8/p stores a byte; one more pattern costs a load per 4 bytes, so
 * grouping primes into patterns pays up to p ≈ 60–80. Groups keep each period small enough for the cache.
 * presieve() reads exactly six patterns.
 */
const PRESIEVE_GROUPS: readonly (readonly number[])[] = [
  [7, 11, 13, 17],
  [19, 23, 29],
  [31, 37, 41],
  [43, 47, 53],
  [59, 61, 67],
  [71, 73, 79],
];
/** Primes counted apart: 2, 3 and 5 (the wheel) and the pre-sieved primes, which the patterns mark. */
const UNSIEVED_PRIMES: readonly number[] = [2, 3, 5, ...PRESIEVE_GROUPS.flat()];
const FIRST_SIEVING_PRIME = Math.max(...UNSIEVED_PRIMES) + 1;

interface Pattern {
  /** Period in bytes: 4 × the product of the group's primes, so a word-aligned start stays aligned. */
  period: number;
  /** The pattern repeated over period + the segment size, as words. */
  words: Int32Array;
}
const patternCache = new Map<number, Pattern>();

/** The pattern of a group, long enough for segments of up to segmentBytes. */
function presievePattern(group: readonly number[], segmentBytes: number): Pattern {
  const period = 4 * group.reduce((a, b) => a * b, 1);
  const cached = patternCache.get(period);
  if (cached && cached.words.length * 4 >= period + segmentBytes) return cached;
  const bytes = new Uint8Array(period + segmentBytes);
  for (const p of group) {
    // Every multiple of p coprime to 30, p itself included (it is counted apart).
    for (let q = 1; q < 30; q++) {
      if (BIT_OF_RESIDUE[q]! < 0) continue;
      const mask = 1 << BIT_OF_RESIDUE[(p * q) % 30]!;
      for (let j = Math.floor((p * q) / 30); j < bytes.length; j += p) bytes[j]! |= mask;
    }
  }
  const pattern = { period, words: new Int32Array(bytes.buffer) };
  patternCache.set(period, pattern);
  return pattern;
}

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
function basePrimes(limit: number): Uint32Array {
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
  sieveSegments(0, limit + 1, DEFAULT_SEGMENT_BYTES, (seg, len, firstByte) => {
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
type SegmentVisitor = (seg: Uint8Array, len: number, firstByte: number) => void;

/** Bucket entries are pairs: (a·8 + r) of the prime 30a + WHEEL[r], and (byte offset·8 + wheel index). */
const BUCKET_BLOCK_ENTRIES = 1024;

/**
 * The bucket sieve's storage: entries for a future segment live in a chain of fixed-size blocks taken
 * from a shared pool, so memory follows the number of live entries rather than every bucket's peak.
 */
class Buckets {
  private readonly blocks: Uint32Array[] = [];
  private readonly nextBlock: number[] = [];
  private readonly freeBlocks: number[] = [];
  /** Per ring slot: the block being filled (-1 for none) and its fill in uint32s. */
  private readonly head: Int32Array;
  private readonly fill: Int32Array;
  readonly ringMask: number;

  constructor(ringSize: number) {
    this.head = new Int32Array(ringSize).fill(-1);
    this.fill = new Int32Array(ringSize);
    this.ringMask = ringSize - 1;
  }

  push(slot: number, prime: number, state: number): void {
    let block = this.head[slot]!;
    let f = this.fill[slot]!;
    if (block < 0 || f === BUCKET_BLOCK_ENTRIES * 2) {
      const fresh = this.freeBlocks.length > 0 ? this.freeBlocks.pop()! : this.allocate();
      this.nextBlock[fresh] = block;
      this.head[slot] = block = fresh;
      f = 0;
    }
    const data = this.blocks[block]!;
    data[f] = prime;
    data[f + 1] = state;
    this.fill[slot] = f + 2;
  }

  /** Detaches the chain of a slot: its head block id and fill; walk with next() and give back with release(). */
  take(slot: number): { block: number; fill: number } {
    const taken = { block: this.head[slot]!, fill: this.fill[slot]! };
    this.head[slot] = -1;
    this.fill[slot] = 0;
    return taken;
  }

  data(block: number): Uint32Array {
    return this.blocks[block]!;
  }

  next(block: number): number {
    return this.nextBlock[block]!;
  }

  release(block: number): void {
    this.freeBlocks.push(block);
  }

  private allocate(): number {
    this.blocks.push(new Uint32Array(BUCKET_BLOCK_ENTRIES * 2));
    this.nextBlock.push(-1);
    return this.blocks.length - 1;
  }
}

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

/** Per-segment state of the sieving primes (those above the pre-sieved ones), index k for the k-th. */
interface SievingPrimes {
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
 * The phases below are separate small functions, not one loop body: V8 optimizes a small hot function far
 * better than the same loop inside a large one (measured: π(1e9) took twice as long as a single function).
 */
function presieve(segWords: Int32Array, words: number, patterns: Pattern[], segStart: number): void {
  const [pa, pb, pc, pd, pe, pf] = patterns as [Pattern, Pattern, Pattern, Pattern, Pattern, Pattern];
  // segStart is a multiple of 8 and each period a multiple of 4, so these offsets are whole words.
  const wa = (segStart % pa.period) >> 2;
  const wb = (segStart % pb.period) >> 2;
  const wc = (segStart % pc.period) >> 2;
  const wd = (segStart % pd.period) >> 2;
  const we = (segStart % pe.period) >> 2;
  const wf = (segStart % pf.period) >> 2;
  const a = pa.words;
  const b = pb.words;
  const c = pc.words;
  const d = pd.words;
  const e = pe.words;
  const f = pf.words;
  for (let w = 0; w < words; w++) {
    segWords[w] = a[wa + w]! | b[wb + w]! | c[wc + w]! | d[wd + w]! | e[we + w]! | f[wf + w]!;
  }
}

/** Primes below the segment size: at least one whole turn of the wheel (8 multiples) per segment. */
function crossSmall(seg: Uint8Array, len: number, primes: SievingPrimes, from: number, to: number): void {
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
function crossMedium(seg: Uint8Array, len: number, primes: SievingPrimes, from: number, to: number): void {
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

/**
 * Schedules a large prime's next multiple, `offset` bytes from the start of segment `segmentNumber`,
 * unless it lies beyond the range (`bytesLeft` bytes from that segment's start).
 */
function schedule(
  buckets: Buckets,
  segmentBytes: number,
  segmentNumber: number,
  bytesLeft: number,
  ar: number,
  offset: number,
  wheel: number,
): void {
  if (offset >= bytesLeft) return;
  const ahead = Math.floor(offset / segmentBytes);
  buckets.push((segmentNumber + ahead) & buckets.ringMask, ar, (offset - ahead * segmentBytes) * 8 + wheel);
}

/** Primes with at most one multiple per segment: this segment's bucket, then each to its next bucket. */
function crossLarge(
  seg: Uint8Array,
  len: number,
  buckets: Buckets,
  segmentBytes: number,
  segmentNumber: number,
  bytesLeft: number,
): void {
  let { block, fill } = buckets.take(segmentNumber & buckets.ringMask);
  while (block >= 0) {
    const data = buckets.data(block);
    for (let e = 0; e < fill; e += 2) {
      const ar = data[e]!;
      const state = data[e + 1]!;
      const r8 = (ar & 7) * 8;
      const i = state & 7;
      const j = state >>> 3;
      if (j >= len) continue; // only in the last, shorter segment: beyond the range
      seg[j]! |= MASK[r8 + i]!;
      const nextOffset = j + (ar >>> 3) * GAP[i]! + CARRY[r8 + i]!;
      schedule(buckets, segmentBytes, segmentNumber, bytesLeft, ar, nextOffset, (i + 1) & 7);
    }
    const following = buckets.next(block);
    buckets.release(block);
    block = following;
    fill = BUCKET_BLOCK_ENTRIES * 2; // every block behind the head is full
  }
}

function sieveSegments(start: number, end: number, maxSegmentBytes: number, visit: SegmentVisitor): void {
  // Exact byte bounds: (x - x % 30) / 30 divides a multiple of 30, so no rounding near 2^53.
  if (start >= end) return;
  const firstByte = (start - (start % 30)) / 30;
  const endByte = (end - (end % 30)) / 30 + (end % 30 === 0 ? 0 : 1);
  // Segments start on a multiple of 8 bytes so that the pre-sieve patterns are read in aligned words.
  const alignedFirst = firstByte - (firstByte % 8);
  // No bigger than the range: a short range then allocates and clears only what it uses.
  const segmentBytes = Math.min(maxSegmentBytes, Math.ceil((endByte - alignedFirst) / 8) * 8);
  const segmentCount = Math.ceil((endByte - alignedFirst) / segmentBytes);

  const primes = basePrimes(isqrt(end - 1));
  let k0 = 0;
  while (k0 < primes.length && primes[k0]! < FIRST_SIEVING_PRIME) k0++;
  const count = primes.length - k0;

  // Small: p < segment bytes, a whole wheel turn per segment. Medium: a few hits per segment. Large: the
  // smallest step between multiples, 2a bytes, spans a segment, so at most one hit per segment.
  let smallEnd = 0;
  while (smallEnd < count && primes[k0 + smallEnd]! < segmentBytes) smallEnd++;
  let mediumEnd = smallEnd;
  while (mediumEnd < count && 2 * Math.floor(primes[k0 + mediumEnd]! / 30) < segmentBytes) mediumEnd++;

  // State arrays only for the small and medium primes: near 2^53 there are 5.4 million large ones, whose
  // state lives in the buckets.
  const sieving: SievingPrimes = {
    a: new Int32Array(mediumEnd),
    r8: new Int32Array(mediumEnd),
    next: new Int32Array(mediumEnd),
    wheel: new Int32Array(mediumEnd),
  };
  for (let k = 0; k < mediumEnd; k++) {
    const p = primes[k0 + k]!;
    sieving.a[k] = Math.floor(p / 30);
    sieving.r8[k] = BIT_OF_RESIDUE[p % 30]! * 8;
  }

  let buckets: Buckets | undefined;
  if (mediumEnd < count) {
    // The farthest any entry is pushed ahead: a first multiple up to ~7p/30 bytes away, and never past
    // the range's last segment.
    const maxAhead = Math.min(
      Math.ceil((7 * Math.floor(primes[primes.length - 1]! / 30) + 16) / segmentBytes) + 2,
      segmentCount + 1,
    );
    let ring = 1;
    while (ring < maxAhead) ring *= 2;
    buckets = new Buckets(ring);
  }

  const patterns = PRESIEVE_GROUPS.map((g) => presievePattern(g, segmentBytes));
  const seg = new Uint8Array(segmentBytes + 8);
  const segWords = new Int32Array(seg.buffer);
  let active = 0;
  let segmentNumber = 0;

  for (let segStart = alignedFirst; segStart < endByte; segStart += segmentBytes, segmentNumber++) {
    const len = Math.min(segmentBytes, endByte - segStart);
    const bytesLeft = endByte - segStart;
    presieve(segWords, (len + 3) >> 2, patterns, segStart);

    // Activate, in order, the primes whose square lies below this segment's end (and the range's).
    const from = segStart * 30;
    const segHigh = Math.min(end, from + len * 30);
    while (active < count) {
      const p = primes[k0 + active]!;
      if (p * p >= segHigh) break;
      const a = Math.floor(p / 30);
      const r = BIT_OF_RESIDUE[p - 30 * a]!;
      const first = firstMultiple(p, r, from);
      const offset = Math.floor(first / 8);
      const wheel = first - offset * 8;
      if (active < mediumEnd) {
        sieving.next[active] = offset;
        sieving.wheel[active] = wheel;
      } else {
        schedule(buckets!, segmentBytes, segmentNumber, bytesLeft, a * 8 + r, offset, wheel);
      }
      active++;
    }

    crossSmall(seg, len, sieving, 0, Math.min(active, smallEnd));
    crossMedium(seg, len, sieving, smallEnd, Math.min(active, mediumEnd));
    if (buckets) crossLarge(seg, len, buckets, segmentBytes, segmentNumber, bytesLeft);

    // Clip to [start, end): 1 is not prime, and the first and last bytes may reach outside the range.
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
    visit(seg, len, segStart);
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
  sieveSegments(start, end, segmentBytes, (seg, len) => {
    const words = new Int32Array(seg.buffer, seg.byteOffset, (len + 3) >> 2);
    candidates += words.length * 32;
    composites += popcountWords(words);
  });
  return candidates - composites + countUnsievedPrimes(start, end);
}

function popcountWords(words: Int32Array): number {
  let total = 0;
  for (let w = 0; w < words.length; w++) {
    let v = words[w]!;
    v -= (v >>> 1) & 0x55555555;
    v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
    total += Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
  }
  return total;
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
  sieveSegments(start, end, segmentBytes, (seg, len, firstByte) => {
    decodePrimes(seg, len, firstByte, out, out.length);
  });
  return out;
}
