/**
 * The bit-level view of a double, for the exact sum (exact-sum.ts, rank-answer.ts).
 *
 * Write a value to `F64[0]` and read its IEEE 754 words from `U32[HI]` (sign, 11-bit exponent, top 20 bits of
 * the significand) and `U32[LO]` (low 32 bits of the significand), whatever the platform's byte order.
 */
import { endianness } from 'node:os';

export const F64 = new Float64Array(1);
export const U32 = new Uint32Array(F64.buffer);
export const HI = endianness() === 'LE' ? 1 : 0;
export const LO = 1 - HI;
