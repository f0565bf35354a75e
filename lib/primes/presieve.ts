/**
 * Pre-sieving for the sieve (sieve.ts): the first phase of each segment, which marks the multiples of the
 * primes 7 to 79 from precomputed periodic patterns instead of crossing them off one by one.
 */
import { BIT_OF_RESIDUE } from './wheel.ts';

/**
 * Pre-sieving: the multiples of the smallest primes repeat with a period of their product (in bytes), so
 * they are OR-ed in 32 bits at a time from precomputed patterns instead of being crossed off one by one.
 * For a prime p crossing off costs 8/p stores a byte; one more pattern costs a load per 4 bytes, so
 * grouping primes into patterns pays up to p ≈ 60–80. Groups keep each period small enough for the cache.
 * presieve() reads exactly six patterns.
 */
export const PRESIEVE_GROUPS: readonly (readonly number[])[] = [
  [7, 11, 13, 17],
  [19, 23, 29],
  [31, 37, 41],
  [43, 47, 53],
  [59, 61, 67],
  [71, 73, 79],
];
/** Primes counted apart: 2, 3 and 5 (the wheel) and the pre-sieved primes, which the patterns mark. */
export const UNSIEVED_PRIMES: readonly number[] = [2, 3, 5, ...PRESIEVE_GROUPS.flat()];
export const FIRST_SIEVING_PRIME = Math.max(...UNSIEVED_PRIMES) + 1;

export interface Pattern {
  /** Period in bytes: 4 × the product of the group's primes, so a word-aligned start stays aligned. */
  period: number;
  /** The pattern repeated over period + the segment size, as words. */
  words: Int32Array;
}
const patternCache = new Map<number, Pattern>();

/** The pattern of a group, long enough for segments of up to segmentBytes. */
export function presievePattern(group: readonly number[], segmentBytes: number): Pattern {
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

/** Step 1 of each segment: ORs the six group patterns over the segment, a word at a time. */
export function presieve(segWords: Int32Array, words: number, patterns: Pattern[], segStart: number): void {
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
