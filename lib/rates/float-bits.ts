/**
 * The bit-level view of a double and the exact powers of ten, shared by the number printer
 * (shortest-number.ts), the fast number parser (number-parse.ts) and the exact sum (rank-answer.ts, stats.ts).
 *
 * Write a value to `F64[0]` and read its IEEE 754 words from `U32[HI]` (sign, 11-bit exponent, top 20 bits of
 * the significand) and `U32[LO]` (low 32 bits of the significand), whatever the platform's byte order.
 */
import { endianness } from 'node:os';

export const F64 = new Float64Array(1);
export const U32 = new Uint32Array(F64.buffer);
export const HI = endianness() === 'LE' ? 1 : 0;
export const LO = 1 - HI;

/** 10^0 .. 10^22: every one an exact double, so a product or quotient with one is correctly rounded. */
export const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
