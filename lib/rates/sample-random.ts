/**
 * The sample data's PRNG: mulberry32 plus the distributions the sample draws from. Its outputs fix the
 * sample's bytes, so any change here changes every generated CSV (tests and the demo depend on them).
 */

// Ziggurat tables (Marsaglia & Tsang 2000, 128 layers) for fast standard normals: ~98% of draws cost one
// 32-bit random number, a table lookup and a multiply. Box-Muller was the single biggest cost at 10M rows.
const ZIG_R = 3.442619855899;
const ZIG_K = new Uint32Array(128);
const ZIG_W = new Float64Array(128);
const ZIG_F = new Float64Array(128);
{
  const m1 = 2147483648;
  const vn = 9.91256303526217e-3;
  let dn = ZIG_R;
  let tn = dn;
  const q = vn / Math.exp(-0.5 * dn * dn);
  ZIG_K[0] = (dn / q) * m1;
  ZIG_K[1] = 0;
  ZIG_W[0] = q / m1;
  ZIG_W[127] = dn / m1;
  ZIG_F[0] = 1;
  ZIG_F[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    ZIG_K[i + 1] = (dn / tn) * m1;
    tn = dn;
    ZIG_F[i] = Math.exp(-0.5 * dn * dn);
    ZIG_W[i] = dn / m1;
  }
}

/** mulberry32 stream with helpers for the distributions the sample needs. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Next mulberry32 output as a signed 32-bit integer. */
  private int32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return t ^ (t >>> 14);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return (this.int32() >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** Standard normal (ziggurat). */
  normal(): number {
    for (;;) {
      const hz = this.int32();
      const iz = hz & 127;
      const x = hz * (ZIG_W[iz] as number);
      if (Math.abs(hz) < (ZIG_K[iz] as number)) return x;
      if (iz === 0) {
        // Tail beyond ZIG_R.
        let tx: number;
        let ty: number;
        do {
          tx = -Math.log(1 - this.uniform()) / ZIG_R;
          ty = -Math.log(1 - this.uniform());
        } while (ty + ty < tx * tx);
        return hz > 0 ? ZIG_R + tx : -ZIG_R - tx;
      }
      const f0 = ZIG_F[iz] as number;
      const f1 = ZIG_F[iz - 1] as number;
      if (f0 + this.uniform() * (f1 - f0) < Math.exp(-0.5 * x * x)) return x;
    }
  }

  /** Poisson(lambda): exact (Knuth) for small lambda, normal approximation for large. */
  poisson(lambda: number): number {
    if (lambda < 30) {
      const limit = Math.exp(-lambda);
      let k = 0;
      let p = this.uniform();
      while (p > limit) {
        k++;
        p *= this.uniform();
      }
      return k;
    }
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
  }
}
