/**
 * Exact summation of doubles for the mean: per-exponent integer accumulators (filled by the statistics' first
 * pass, rank-answer.ts) folded into Shewchuk partials, with a correctly rounded final division.
 */

import { F64, HI, LO, U32 } from './float-bits.ts';

/** Values added between two flushes of the per-exponent accumulators, keeping every bin below 2^53. */
const EXACT_FLUSH_EVERY = 1 << 25;
/** Exponents from here up (values >= 2^600) are summed scaled by 2^-BIG_SHIFT so nothing overflows. */
const BIG_EXPONENT = 1075 + 600;
const BIG_SHIFT = 700;
/**
 * Separates the scaled big partials from the others in `partials()`. No other partial can equal it: the
 * unscaled partials of up to 2^32 values below 2^600 stay below 2^640.
 */
const BIG_MARK = Number.MAX_VALUE;

/**
 * Exact sum of many doubles. Each value is m * 2^(E-1075) with an integer m < 2^53; m is split into its
 * high 27 and low 26 bits, which are added into integer-valued accumulators per exponent E (see
 * firstPass). Those stay exact for 2^25 additions, after which (and at the end) they are folded into
 * Shewchuk partials. About as cheap per value as a compensated sum, but exact.
 */
export class ExactSum {
  readonly hiAcc = new Float64Array(2048);
  readonly loAcc = new Float64Array(2048);
  private pendingAdds = 0;
  private smallPartials: number[] = [];
  private bigPartials: number[] = [];

  /**
   * The exact sum so far as finite doubles (Shewchuk partials), for sending to another process: JSON keeps every
   * finite double exactly. A sum containing values >= 2^600 appends `Number.MAX_VALUE` and then its big
   * partials (scaled by 2^-700). Never contains -0, NaN or ±Infinity (only finite values may be added).
   */
  partials(): number[] {
    this.flush();
    return this.bigPartials.length === 0
      ? [...this.smallPartials]
      : [...this.smallPartials, BIG_MARK, ...this.bigPartials];
  }

  /** The sum that `partials()` gave; any finite doubles are accepted and summed exactly. */
  static fromPartials(partials: readonly number[]): ExactSum {
    const sum = new ExactSum();
    let target = sum.smallPartials;
    for (const p of partials) {
      if (p === BIG_MARK && target === sum.smallPartials) {
        target = sum.bigPartials;
        continue;
      }
      if (!Number.isFinite(p)) throw new RangeError(`ExactSum.fromPartials: not a finite number: ${p}`);
      if (p !== 0) addPartial(target, p);
    }
    return sum;
  }

  /** Adds `other`'s sum into this one, exactly: merged sums give the mean that one sum over all values gives. */
  add(other: ExactSum): this {
    this.flush();
    other.flush();
    for (const p of other.smallPartials) addPartial(this.smallPartials, p);
    for (const p of other.bigPartials) addPartial(this.bigPartials, p);
    return this;
  }

  /** How many values may still be accumulated before a flush; flushes first if none. */
  room(): number {
    if (this.pendingAdds >= EXACT_FLUSH_EVERY) this.flush();
    return EXACT_FLUSH_EVERY - this.pendingAdds;
  }

  added(count: number): void {
    this.pendingAdds += count;
  }

  /**
   * Adds values on their own. The statistics' first pass (rank-answer.ts) does the same split inline, fused with
   * its histogram; this is for a parallel run's chunks, which sum their values before any histogram exists.
   */
  addValues(values: Float64Array): void {
    const { hiAcc, loAcc } = this;
    for (let start = 0; start < values.length; ) {
      const end = Math.min(values.length, start + this.room());
      for (let i = start; i < end; i++) {
        F64[0] = values[i] as number;
        const h = U32[HI] as number;
        const l = U32[LO] as number;
        const e = (h >>> 20) & 0x7ff;
        const top = ((h & 0xfffff) + (e === 0 ? 0 : 0x100000)) * 64 + (l >>> 26);
        const bottom = l & 0x3ffffff;
        const E = e === 0 ? 1 : e;
        const sign = h >>> 31 === 0 ? 1 : -1;
        hiAcc[E] = (hiAcc[E] as number) + sign * top;
        loAcc[E] = (loAcc[E] as number) + sign * bottom;
      }
      this.added(end - start);
      start = end;
    }
  }

  /**
   * The sum divided by n, correctly rounded (up to a final-step residual correction), so that e.g. the
   * mean of many copies of one value is that value. The sum only loses exactness beyond ~1e180.
   */
  mean(n: number): number {
    this.flush();
    if (this.bigPartials.length > 0) {
      return (sumPartials(this.bigPartials) / n) * 2 ** BIG_SHIFT + sumPartials(this.smallPartials) / n;
    }
    const q = sumPartials(this.smallPartials) / n;
    if (!Number.isFinite(q) || q === 0) return q;
    // residual = sum - q*n, exactly (Dekker's product of q and n), then one correction step.
    const [ph, pl] = twoProduct(q, n);
    const residual = [...this.smallPartials];
    addPartial(residual, -ph);
    addPartial(residual, -pl);
    return q + sumPartials(residual) / n;
  }

  private flush(): void {
    for (let E = 1; E < 2048; E++) {
      const h = this.hiAcc[E] as number;
      const l = this.loAcc[E] as number;
      if (h === 0 && l === 0) continue;
      // Integer accumulators times powers of two are exact doubles; huge exponents are kept scaled down
      // (separately) so that the terms themselves cannot overflow.
      const big = E >= BIG_EXPONENT;
      const target = big ? this.bigPartials : this.smallPartials;
      const scale = 2 ** (E - 1075 - (big ? BIG_SHIFT : 0));
      if (h !== 0) addPartial(target, h * 2 ** 26 * scale);
      if (l !== 0) addPartial(target, l * scale);
    }
    this.hiAcc.fill(0);
    this.loAcc.fill(0);
    this.pendingAdds = 0;
  }
}

function twoProduct(a: number, b: number): [number, number] {
  const p = a * b;
  const split = (x: number): [number, number] => {
    const c = 134217729 * x;
    const h = c - (c - x);
    return [h, x - h];
  };
  const [ah, al] = split(a);
  const [bh, bl] = split(b);
  return [p, ah * bh - p + ah * bl + al * bh + al * bl];
}

/** Shewchuk's exact addition into non-overlapping partials (as in Python's math.fsum). */
function addPartial(partials: number[], x: number): void {
  let i = 0;
  for (let j = 0; j < partials.length; j++) {
    let y = partials[j] as number;
    if (Math.abs(x) < Math.abs(y)) {
      const t = x;
      x = y;
      y = t;
    }
    const hi = x + y;
    const lo = y - (hi - x);
    if (lo !== 0) partials[i++] = lo;
    x = hi;
  }
  partials.length = i;
  partials.push(x);
}

/** Correctly rounded value of the sum of non-overlapping partials (fsum's final step, with its half-way fix). */
function sumPartials(partials: number[]): number {
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n] as number;
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n] as number;
    hi = x + y;
    const yr = hi - x;
    lo = y - yr;
    if (lo !== 0) break;
  }
  if (n > 0 && ((lo < 0 && (partials[n - 1] as number) < 0) || (lo > 0 && (partials[n - 1] as number) > 0))) {
    const y = lo * 2;
    const x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}
