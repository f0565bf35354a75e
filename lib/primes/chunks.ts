import { z } from 'zod';
import { UserError } from '../errors.ts';
import { MAX_PRIME_RANGE_END } from './sieve.ts';

export interface Chunk {
  start: number;
  end: number;
}

/** Most chunks one run may have: each is a Lambda invocation (or an EC2 task), and each is listed in the reply. */
export const MAX_CHUNKS = 10_000;

const integer = (name: string) =>
  z
    .number({ error: `${name} must be a number` })
    .refine(Number.isInteger, `${name} must be a whole number`)
    .refine((n) => n >= 0, `${name} must be ≥ 0`)
    .refine((n) => n <= MAX_PRIME_RANGE_END, `${name} must be ≤ 2^53 (${MAX_PRIME_RANGE_END})`);

export const rangeSchema = z
  .object({ start: integer('start'), end: integer('end') })
  .refine((r) => r.start <= r.end, { message: 'start must be ≤ end (the range is [start, end))', path: ['start'] });

export const splitSchema = z
  .object({
    chunks: z.number({ error: 'chunks must be a number' }).int('chunks must be a whole number').min(1, 'chunks must be at least 1').max(MAX_CHUNKS, `chunks must be at most ${MAX_CHUNKS}`).optional(),
    chunkSize: z.number({ error: 'chunkSize must be a number' }).int('chunkSize must be a whole number').min(1, 'chunkSize must be at least 1').optional(),
  })
  .refine((s) => !(s.chunks !== undefined && s.chunkSize !== undefined), { message: 'give chunks or chunkSize, not both', path: ['chunks'] });

export class InvalidRangeError extends UserError {
  constructor(message: string) {
    super('INVALID_INPUT', message);
  }
}

/**
 * Splits [start, end) into `chunks` balanced chunks, or into the fewest balanced chunks of at most
 * `chunkSize` numbers. They cover it exactly once: chunk i ends where chunk i+1
 * starts, so no number — and no prime — is counted twice or missed. More chunks than numbers is clamped
 * to one number per chunk; an empty range gives no chunks.
 */
export function splitRange(start: number, end: number, split: { chunks?: number; chunkSize?: number }): Chunk[] {
  const length = end - start;
  if (length <= 0) return [];
  let count: number;
  if (split.chunkSize !== undefined) {
    count = Math.ceil(length / split.chunkSize);
    if (count > MAX_CHUNKS) {
      throw new InvalidRangeError(
        `chunkSize ${split.chunkSize} splits the range into ${count} chunks; at most ${MAX_CHUNKS} are allowed — use a chunkSize of at least ${Math.ceil(length / MAX_CHUNKS)}`,
      );
    }
  } else {
    count = Math.min(split.chunks ?? 1, length);
  }
  // Boundary i = start + floor(length * i / count), computed without the product length * i, which
  // would lose precision above 2^53.
  const base = Math.floor(length / count);
  const remainder = length % count;
  const boundary = (i: number) => start + base * i + Math.floor((remainder * i) / count);
  const chunks: Chunk[] = [];
  for (let i = 0; i < count; i++) chunks.push({ start: boundary(i), end: i === count - 1 ? end : boundary(i + 1) });
  return chunks;
}
