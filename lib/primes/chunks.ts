import { z } from 'zod';
import { UserError } from '../errors.ts';
import { MAX_PRIME_RANGE_END } from './sieve.ts';

export interface Chunk {
  start: number;
  end: number;
}

/** Most chunks one run may have: each is a Lambda invocation (or an EC2 task), and each is listed in the reply. */
export const MAX_CHUNKS = 10_000;

/**
 * Most numbers one chunk may span: the sieve does 10^9 numbers near 2^53 (its slowest) in ~2.7 s on one vCPU, so a
 * chunk this size takes ~5 minutes at worst — inside the worker Lambda's 900 s timeout and EC2's default 600 s
 * deadline, so a chunk fails fast as input instead of after a quarter of an hour as a timeout. With MAX_CHUNKS it
 * bounds one run at 10^15 numbers.
 */
export const MAX_CHUNK_SPAN = 100_000_000_000;
export const MAX_RUN_SPAN = MAX_CHUNKS * MAX_CHUNK_SPAN;

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
  chunks: z
    .number({ error: 'chunks must be a number' })
    .int('chunks must be a whole number')
    .min(1, 'chunks must be at least 1')
    .max(MAX_CHUNKS, `chunks must be at most ${MAX_CHUNKS}`)
    .optional(),
  chunkSize: z
    .number({ error: 'chunkSize must be a number' })
    .int('chunkSize must be a whole number')
    .min(1, 'chunkSize must be at least 1')
    .max(
      MAX_CHUNK_SPAN,
      `chunkSize must be at most ${MAX_CHUNK_SPAN} (10^11: what one worker counts well inside its timeout)`,
    )
    .optional(),
};

/** A bound that passed its own checks (refinements run even when a field's checks failed). */
const isBound = (n: number) => Number.isInteger(n) && n >= 0 && n <= MAX_PRIME_RANGE_END;

/** start ≤ end. */
export function checkRange(range: Chunk, context: z.RefinementCtx): void {
  if (isBound(range.start) && isBound(range.end) && range.start > range.end) {
    context.addIssue({ code: 'custom', message: 'start must be ≤ end (the range is [start, end))', path: ['start'] });
  }
}

/** One chunk, as a worker receives it: checkRange, and at most MAX_CHUNK_SPAN numbers. */
export function checkChunk(range: Chunk, context: z.RefinementCtx): void {
  checkRange(range, context);
  if (isBound(range.start) && isBound(range.end) && range.end - range.start > MAX_CHUNK_SPAN) {
    context.addIssue({
      code: 'custom',
      message: `a chunk spans at most ${MAX_CHUNK_SPAN} numbers (10^11), got ${range.end - range.start}: split the range into more chunks`,
      path: ['end'],
    });
  }
}

/** One of chunks and chunkSize, and a chunkSize that makes at most MAX_CHUNKS chunks of the range. */
export function checkSplit(
  input: Chunk & { chunks?: number | undefined; chunkSize?: number | undefined },
  context: z.RefinementCtx,
): void {
  if (input.chunks !== undefined && input.chunkSize !== undefined) {
    context.addIssue({ code: 'custom', message: 'give chunks or chunkSize, not both', path: ['chunks'] });
    return;
  }
  const { start, end, chunkSize } = input;
  if (!isBound(start) || !isBound(end) || start > end) return;
  const length = end - start;
  if (length > MAX_RUN_SPAN) {
    context.addIssue({
      code: 'custom',
      message: `a run covers at most ${MAX_RUN_SPAN} numbers (${MAX_CHUNKS} chunks of at most ${MAX_CHUNK_SPAN}), got ${length}: split it into several runs`,
      path: ['end'],
    });
    return;
  }
  if (chunkSize === undefined) {
    const chunks = input.chunks ?? 1;
    if (!Number.isInteger(chunks) || chunks < 1 || chunks > MAX_CHUNKS) return;
    const widest = Math.ceil(length / chunks);
    if (widest > MAX_CHUNK_SPAN) {
      context.addIssue({
        code: 'custom',
        message: `${length} numbers in ${chunks} chunk${chunks === 1 ? '' : 's'} make chunks of up to ${widest} numbers, over the ${MAX_CHUNK_SPAN} (10^11) one worker counts well inside its timeout — use at least ${Math.ceil(length / MAX_CHUNK_SPAN)} chunks`,
        path: ['chunks'],
      });
    }
    return;
  }
  if (!Number.isInteger(chunkSize) || chunkSize < 1) return;
  const problem = tooManyChunks(length, chunkSize);
  if (problem !== undefined) context.addIssue({ code: 'custom', message: problem, path: ['chunkSize'] });
}

/** A range [start, end) on its own, as a worker receives it. */
export const rangeSchema = z.object(rangeFields).superRefine(checkChunk);

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
