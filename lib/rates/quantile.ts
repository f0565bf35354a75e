/** Quantiles and histogram edges computed the way numpy and pandas compute them by default. */

/** Linear interpolation between closest ranks (numpy/pandas default): position (n-1)*q. */
export function quantilePosition(n: number, q: number): { lo: number; hi: number; t: number } {
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  return { lo, hi: Math.min(lo + 1, n - 1), t: pos - lo };
}

/** numpy's `_lerp`: interpolating from the nearer end keeps the result monotone and within [a, b]. */
export function lerp(a: number, b: number, t: number): number {
  const d = b - a;
  return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

/** Equal-width bin edges from min to max; a degenerate range gets a unit-wide window around the value. */
export function histogramEdges(min: number, max: number, bins: number): number[] {
  let lo = min;
  let hi = max;
  if (lo === hi) {
    // ±0.5 disappears into rounding for huge magnitudes, so widen relative to the value there.
    const half = Math.max(0.5, Math.abs(lo) * 1e-9);
    lo -= half;
    hi += half;
  }
  let step = (hi - lo) / bins;
  if (step === Infinity) step = hi / bins - lo / bins;
  const edges = new Array<number>(bins + 1);
  for (let i = 0; i < bins; i++) edges[i] = Math.min(lo + step * i, hi);
  edges[bins] = hi;
  return edges;
}
