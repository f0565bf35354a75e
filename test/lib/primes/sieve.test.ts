import { describe, expect, it } from 'vitest';
import { rng } from '../../support/random.ts';
import { SLOW_TESTS } from '../../support/slow.ts';
import { MAX_PRIME_RANGE_END, countPrimes, listPrimes, validateRange } from '../../../lib/primes/sieve.ts';

const TWO_53 = 2 ** 53;

// Reference: a plain sieve of Eratosthenes and its prefix counts (prefix[n] = π(n - 1)).
const REF_LIMIT = 2_000_000;
const refComposite = new Uint8Array(REF_LIMIT);
refComposite[0] = refComposite[1] = 1;
for (let p = 2; p * p < REF_LIMIT; p++) {
  if (!refComposite[p]) for (let m = p * p; m < REF_LIMIT; m += p) refComposite[m] = 1;
}
const refPrefix = new Int32Array(REF_LIMIT + 1);
for (let n = 0; n < REF_LIMIT; n++) refPrefix[n + 1] = refPrefix[n]! + (refComposite[n] ? 0 : 1);
const refCount = (start: number, end: number): number => refPrefix[end]! - refPrefix[start]!;
const refList = (start: number, end: number): number[] => {
  const out: number[] = [];
  for (let n = start; n < end; n++) if (!refComposite[n]) out.push(n);
  return out;
};

// Reference for large numbers: deterministic Miller–Rabin on BigInt; these bases are exact below 3.3e24.
const MR_BASES = [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n];
function powMod(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  base %= mod;
  for (; exp > 0n; exp >>= 1n) {
    if (exp & 1n) result = (result * base) % mod;
    base = (base * base) % mod;
  }
  return result;
}
function isPrime(value: number): boolean {
  const n = BigInt(value);
  if (n < 2n) return false;
  for (const p of MR_BASES) {
    if (n === p) return true;
    if (n % p === 0n) return false;
  }
  let d = n - 1n;
  let s = 0;
  for (; (d & 1n) === 0n; d >>= 1n) s++;
  witness: for (const a of MR_BASES) {
    let x = powMod(a, d, n);
    if (x === 1n || x === n - 1n) continue;
    for (let i = 1; i < s; i++) {
      x = (x * x) % n;
      if (x === n - 1n) continue witness;
    }
    return false;
  }
  return true;
}
const mrList = (start: number, end: number): number[] => {
  const out: number[] = [];
  for (let n = start; n < end; n++) if (isPrime(n)) out.push(n);
  return out;
};

// Tiny segments push most base primes through the medium and bucket paths; 24 is not a multiple of 8.
const SEGMENT_SIZES = [undefined, 8, 24, 64, 4096];

describe('countPrimes: known values', () => {
  it.each([
    [10, 4],
    [100, 25],
    [1000, 168],
    [1e4, 1229],
    [1e5, 9592],
    [1e6, 78498],
    [1e7, 664579],
    [1e8, 5761455],
    [1e9, 50847534],
  ])('π(%d) = %d', (n, expected) => {
    expect(countPrimes(0, n)).toBe(expected);
  });

  it('[1e8, 1.01e8) holds 54208 primes, with any segment size', () => {
    for (const segmentBytes of [undefined, 64, 1000, 32 * 1024, 1 << 20]) {
      expect(countPrimes(1e8, 1.01e8, { segmentBytes })).toBe(54208);
    }
  });

  // Values from primesieve 11 (`primesieve <start> <end - 1> --count`; its ranges are inclusive).
  it('[1e12, 1e12 + 1e9) holds 36190991 primes', () => {
    expect(countPrimes(1e12, 1e12 + 1e9)).toBe(36190991);
  });

  it('[2^53 - 1e8, 2^53) holds 2721647 primes (5.4 million base primes, bucket sieve)', () => {
    expect(countPrimes(TWO_53 - 1e8, TWO_53)).toBe(2721647);
  });

  it.skipIf(!SLOW_TESTS)('π(1e10) = 455052511 (CLOUD_PARALLEL_SLOW_TESTS=1; ~3 s)', () => {
    expect(countPrimes(0, 1e10)).toBe(455052511);
  });
});

/** Checks countPrimes over each `[start, end, count]`, naming the range that fails. */
function expectCounts(cases: readonly (readonly [start: number, end: number, count: number])[]): void {
  for (const [start, end, count] of cases) expect(countPrimes(start, end), `[${start}, ${end})`).toBe(count);
}

describe('countPrimes: edges', () => {
  it('counts from 0, 1, 2 and 3', () => {
    expectCounts([
      [0, 2, 0],
      [0, 3, 1],
      [1, 3, 1],
      [2, 3, 1],
      [2, 4, 2],
      [3, 4, 1],
      [3, 100, 24],
    ]);
    for (const start of [0, 1, 2, 3]) {
      for (let end = start; end < 200; end++)
        expect(countPrimes(start, end), `[${start}, ${end})`).toBe(refCount(start, end));
    }
  });

  it('an empty range has no primes', () => {
    for (const n of [0, 1, 2, 3, 7, 97, 1e9 + 7, TWO_53 - 1, TWO_53]) expect(countPrimes(n, n)).toBe(0);
  });

  it('a range of one number holds 1 for a prime and 0 otherwise', () => {
    for (const p of [2, 3, 5, 7, 11, 19, 79, 83, 97, 10007, 1_000_003, 1e9 + 7]) {
      expect(isPrime(p)).toBe(true);
      expect(countPrimes(p, p + 1), `${p}`).toBe(1);
      expect(listPrimes(p, p + 1)).toEqual([p]);
    }
    for (const n of [0, 1, 4, 9, 25, 49, 77, 121, 169, 6889, 7921, 1e9, 10007 ** 2]) {
      expect(countPrimes(n, n + 1), `${n}`).toBe(0);
      expect(listPrimes(n, n + 1)).toEqual([]);
    }
  });

  it('end is exclusive, start inclusive, also when they are primes', () => {
    expectCounts([
      [2, 3, 1],
      [3, 5, 1],
      [3, 7, 2],
      [7, 11, 1],
      [10007, 10009, 1],
      [10007, 10010, 2],
      [1e9 + 7, 1e9 + 9, 1],
      [1e9 + 7, 1e9 + 10, 2],
      [1e9 + 8, 1e9 + 9, 0],
    ]);
  });

  it('matches the reference around squares of primes', () => {
    for (const p of [7, 11, 13, 79, 83, 89, 97, 101, 997, 1009, 1399]) {
      const sq = p * p;
      for (let lo = Math.max(0, sq - 40); lo <= sq + 1; lo++) {
        for (const hi of [sq, sq + 1, sq + 2, sq + 31, sq + 60]) {
          if (hi >= lo) expect(countPrimes(lo, hi), `[${lo}, ${hi})`).toBe(refCount(lo, hi));
        }
      }
    }
  });

  it('matches Miller–Rabin around squares of larger primes', () => {
    for (const p of [10007, 65521, 1_000_003, 94_906_249]) {
      const sq = p * p;
      expect(countPrimes(sq, sq + 1)).toBe(0);
      expect(listPrimes(sq - 300, sq + 300)).toEqual(mrList(sq - 300, sq + 300));
    }
  });

  it('matches Miller–Rabin just below 2^53', () => {
    expect(countPrimes(TWO_53 - 1000, TWO_53)).toBe(mrList(TWO_53 - 1000, TWO_53).length);
    expect(listPrimes(TWO_53 - 3000, TWO_53 - 1234, { segmentBytes: 16 })).toEqual(
      mrList(TWO_53 - 3000, TWO_53 - 1234),
    );
    const top = listPrimes(TWO_53 - 200, TWO_53);
    expect(top).toEqual(mrList(TWO_53 - 200, TWO_53));
    expect(top.at(-1)).toBe(TWO_53 - 111); // the largest prime below 2^53
  });
});

describe('countPrimes and listPrimes against the reference', () => {
  it('random ranges below 2e6, every segment size', () => {
    const random = rng(20240601);
    for (let t = 0; t < 200; t++) {
      const a = Math.floor(random() * REF_LIMIT);
      const b = Math.floor(random() * (random() < 0.5 ? 1000 : REF_LIMIT));
      const [start, end] = [Math.min(a, b), Math.min(REF_LIMIT, Math.max(a, b))];
      const segmentBytes = SEGMENT_SIZES[t % SEGMENT_SIZES.length];
      expect(countPrimes(start, end, { segmentBytes }), `[${start}, ${end}) segmentBytes=${segmentBytes}`).toBe(
        refCount(start, end),
      );
    }
  });

  it('listPrimes lists exactly the primes of random ranges', () => {
    const random = rng(7);
    for (let t = 0; t < 60; t++) {
      const start = Math.floor(random() * REF_LIMIT);
      const end = Math.min(REF_LIMIT, start + Math.floor(random() * 20000));
      const segmentBytes = SEGMENT_SIZES[t % SEGMENT_SIZES.length];
      expect(listPrimes(start, end, { segmentBytes })).toEqual(refList(start, end));
    }
    expect(listPrimes(0, 100)).toEqual(refList(0, 100));
    expect(listPrimes(0, REF_LIMIT)).toEqual(refList(0, REF_LIMIT));
  });

  it('listPrimes agrees with Miller–Rabin on ranges far from the reference sieve', () => {
    const random = rng(99);
    for (const base of [1e10, 1e12, 1e14, 1e15, 3e15]) {
      const start = base + Math.floor(random() * 1e6);
      expect(listPrimes(start, start + 2000)).toEqual(mrList(start, start + 2000));
    }
  });
});

describe('chunked counts add up to the whole', () => {
  function splitAt(random: () => number, start: number, end: number, pieces: number): number[] {
    const cuts = Array.from({ length: pieces - 1 }, () => start + Math.floor(random() * (end - start + 1)));
    return [start, ...cuts.sort((x, y) => x - y), end];
  }

  it.each([
    ['below 1e7', 0, 1e7],
    ['around 1e11', 1e11, 1e11 + 5e6],
    ['around 2e13', 2e13, 2e13 + 5e6],
  ])('%s', (_label, lo, hi) => {
    const random = rng(lo + 1);
    for (let t = 0; t < 5; t++) {
      const [start, end] = [lo + Math.floor(random() * (hi - lo) * 0.2), hi - Math.floor(random() * (hi - lo) * 0.2)];
      const whole = countPrimes(start, end);
      const bounds = splitAt(random, start, end, 2 + Math.floor(random() * 6));
      let sum = 0;
      for (let k = 0; k + 1 < bounds.length; k++)
        sum += countPrimes(bounds[k]!, bounds[k + 1]!, { segmentBytes: 4096 });
      expect(sum, `[${start}, ${end}) split at ${bounds.join(', ')}`).toBe(whole);
    }
  });

  it('near 2^53, where the chunks share 5.4 million base primes', () => {
    const start = TWO_53 - 4e6;
    const whole = countPrimes(start, TWO_53);
    const cut = start + 1_234_567;
    expect(countPrimes(start, cut) + countPrimes(cut, TWO_53)).toBe(whole);
  });
});

describe('validateRange', () => {
  it('accepts valid ranges', () => {
    expect(() => validateRange(0, 0)).not.toThrow();
    expect(() => validateRange(0, MAX_PRIME_RANGE_END)).not.toThrow();
    expect(() => validateRange(MAX_PRIME_RANGE_END, MAX_PRIME_RANGE_END)).not.toThrow();
    expect(MAX_PRIME_RANGE_END).toBe(TWO_53);
  });

  it.each([
    [Number.NaN, 10, /start must be a number, got NaN/],
    [0, Number.NaN, /end must be a number, got NaN/],
    [1.5, 10, /start must be a finite integer, got 1.5/],
    [0, Number.POSITIVE_INFINITY, /end must be a finite integer, got Infinity/],
    [-1, 10, /start must be >= 0, got -1/],
    [0, -5, /end must be >= 0, got -5/],
    [0, TWO_53 + 2, /end must be <= 2\^53 \(9007199254740992\), got 9007199254740994/],
    [10, 5, /start \(10\) must be <= end \(5\); the range is \[start, end\), end exclusive/],
  ])('validateRange(%d, %d) throws %s', (start, end, message) => {
    expect(() => validateRange(start, end)).toThrow(RangeError);
    expect(() => validateRange(start, end)).toThrow(message);
    expect(() => countPrimes(start, end)).toThrow(message);
    expect(() => listPrimes(start, end)).toThrow(message);
  });

  it('names the type of a non-number bound (for callers from plain JavaScript)', () => {
    // Deliberately ill-typed: JSON payloads reach this untyped.
    expect(() => validateRange('5' as unknown as number, 10)).toThrow(/start must be a number, got string "5"/);
  });

  it('rejects bad segment sizes', () => {
    expect(() => countPrimes(0, 100, { segmentBytes: 0 })).toThrow(/segmentBytes must be an integer from 8 to/);
    expect(() => countPrimes(0, 100, { segmentBytes: 100.5 })).toThrow(RangeError);
    expect(() => countPrimes(0, 100, { segmentBytes: 2 ** 40 })).toThrow(RangeError);
  });
});

describe('listPrimes limits', () => {
  it('takes ranges of up to 10,000,000 numbers', () => {
    expect(listPrimes(0, 1e7)).toHaveLength(664579);
    const high = listPrimes(TWO_53 - 1e7, TWO_53);
    expect(high).toHaveLength(countPrimes(TWO_53 - 1e7, TWO_53));
    expect(high.at(-1)).toBe(TWO_53 - 111);
  });

  it('refuses wider ranges with a message saying what to do', () => {
    expect(() => listPrimes(0, 1e7 + 1)).toThrow(RangeError);
    expect(() => listPrimes(5, 1e7 + 6)).toThrow(
      /listPrimes takes ranges of at most 10,000,000 numbers, got 10000001 \(\[5, 10000006\)\); split the range, or use countPrimes/,
    );
  });
});
