/**
 * The mod-30 wheel of the sieve (see sieve.ts): each byte of a segment stands for 30 consecutive numbers and
 * its 8 bits for the residues coprime to 30. These tables turn "the next multiple of p" into byte steps and
 * bit masks; the crossing-off loops (cross-off.ts, buckets.ts) read them on every store.
 */

export const WHEEL = [1, 7, 11, 13, 17, 19, 23, 29] as const;
/** Bit index of each residue mod 30, or -1 when the residue shares a factor with 30. */
export const BIT_OF_RESIDUE = new Int8Array(30).fill(-1);
for (const [k, w] of WHEEL.entries()) BIT_OF_RESIDUE[w] = k;

/**
 * For a prime p = 30a + WHEEL[r] and a multiplier q = 30k + WHEEL[i], the multiple p·q lies in byte
 * k·p + a·WHEEL[i] + floor(WHEEL[r]·WHEEL[i] / 30) at bit MASK[r·8+i]. Moving q to the next residue adds
 * a·GAP[i] + CARRY[r·8+i] bytes. OFFSET[r·8+i] = floor(WHEEL[r]·WHEEL[i] / 30).
 */
export const GAP = new Int32Array(8);
export const CARRY = new Int32Array(64);
export const OFFSET = new Int32Array(64);
export const MASK = new Int32Array(64);
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
export const INVERSE_MOD_30 = new Int32Array(30);
for (const w of WHEEL) for (let x = 1; x < 30; x++) if ((w * x) % 30 === 1) INVERSE_MOD_30[w] = x;
/** From residue x mod 30, how far to the next wheel residue (0 if x is one) and that residue's index. */
export const DIST_TO_WHEEL = new Int32Array(30);
export const NEXT_WHEEL_INDEX = new Int32Array(30);
for (let x = 0; x < 30; x++) {
  let d = 0;
  while (BIT_OF_RESIDUE[(x + d) % 30]! < 0) d++;
  DIST_TO_WHEEL[x] = d;
  NEXT_WHEEL_INDEX[x] = BIT_OF_RESIDUE[(x + d) % 30]!;
}
