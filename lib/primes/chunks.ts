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

/** The fields of a range [start, end); `checkRange` relates them. */
export const rangeFields = { start: integer('start'), end: integer('end') };

/** How to split a range: a number of chunks, or the most numbers per chunk (`checkSplit` relates them). */
export const splitFields = {
  chunks: z.number({ error: 'chunks must be a number' }).int('chunks must be a whole number').min(1, 'chunks must be at least 1').max(MAX_CHUNKS, `chunks must be at most ${MAX_CHUNKS}`).optional(),
  chunkSize: z.number({ error: 'chunkSize must be a number' }).int('chunkSize must be a whole number').min(1, 'chunkSize must be at least 1').optional(),
};

/** A bound that passed its own checks (refinements run even when a field's checks failed). */
const isBound = (n: number) => Number.isInteger(n) && n >= 0 && n <= MAX_PRIME_RANGE_END;

/** start ≤ end. */
export function checkRange(range: Chunk, context: z.RefinementCtx): void {
  if (isBound(range.start) && isBound(range.end) && range.start > range.end) {
    context.addIssue({ code: 'custom', message: 'start must be ≤ end (the range is [start, end))', path: ['start'] });
  }
}

/** One of chunks and chunkSize, and a chunkSize that makes at most MAX_CHUNKS chunks of the range. */
export function checkSplit(input: Chunk & { chunks?: number | undefined; chunkSize?: number | undefined }, context: z.RefinementCtx): void {
  if (input.chunks !== undefined && input.chunkSize !== undefined) {
    context.addIssue({ code: 'custom', message: 'give chunks or chunkSize, not both', path: ['chunks'] });
    return;
  }
  const { start, end, chunkSize } = input;
  if (chunkSize === undefined || !Number.isInteger(chunkSize) || chunkSize < 1 || !isBound(start) || !isBound(end)) return;
  const problem = tooManyChunks(end - start, chunkSize);
  if (problem !== undefined) context.addIssue({ code: 'custom', message: problem, path: ['chunkSize'] });
}

/** A range [start, end) on its own, as a worker receives it. */
export const rangeSchema = z.object(rangeFields).superRefine(checkRange);

function tooManyChunks(length: number, chunkSize: number): string | undefined {
  const count = Math.ceil(length / chunkSize);
  if (count <= MAX_CHUNKS) return undefined;
  return `chunkSize ${chunkSize} splits the range into ${count} chunks; at most ${MAX_CHUNKS} are allowed — use a chunkSize of at least ${Math.ceil(length / MAX_CHUNKS)}`;
}

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
    const problem = tooManyChunks(length, split.chunkSize);
    if (problem !== undefined) throw new InvalidRangeError(problem);
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
