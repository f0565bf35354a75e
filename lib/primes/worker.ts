import { z } from 'zod';
import { UserError } from '../errors.ts';
import { describeIssues } from '../validation.ts';
import { checkChunk, rangeFields } from './chunks.ts';
import { countPrimes, listPrimes } from './sieve.ts';

/** One chunk of a prime count: what a worker Lambda, a worker thread or an EC2 instance receives. Nothing else. */
export const primesTaskSchema = z
  .strictObject({
    ...rangeFields,
    includePrimes: z.boolean({ error: 'includePrimes must be true or false' }).optional(),
  })
  .superRefine(checkChunk);
export type PrimesTask = z.infer<typeof primesTaskSchema>;

export interface PrimesChunkResult {
  start: number;
  end: number;
  count: number;
  /** Time spent sieving, measured inside the worker. */
  ms: number;
  /** The primes themselves, when asked for and small enough to travel in the reply. */
  primes?: number[];
  /** Where the primes were written instead, when the list is too big for a Lambda reply. */
  primesObject?: string;
}

/** Widest range whose primes may be listed (~665k primes below 10^7 per 10^7 numbers: a few MB of JSON). */
export const MAX_LIST_RANGE = 10_000_000;
/** Lambda's synchronous reply limit is 6 MB; keep a margin for the rest of the reply. */
export const MAX_INLINE_PRIMES_BYTES = 5 * 1024 * 1024;

/** Where a worker may put a prime list that is too big to return. Returns a URI for the reply. */
export type PrimesListStore = (task: PrimesTask, body: string) => Promise<string>;

export async function runPrimesTask(
  input: unknown,
  store?: PrimesListStore,
  limits: { maxInlineBytes: number } = { maxInlineBytes: MAX_INLINE_PRIMES_BYTES },
): Promise<PrimesChunkResult> {
  const parsed = primesTaskSchema.safeParse(input);
  if (!parsed.success) {
    throw new UserError('INVALID_INPUT', describeIssues(parsed.error, '(task)'));
  }
  const task = parsed.data;
  const started = performance.now();
  if (!task.includePrimes) {
    const count = countPrimes(task.start, task.end);
    return { start: task.start, end: task.end, count, ms: round(performance.now() - started) };
  }
  if (task.end - task.start > MAX_LIST_RANGE) {
    throw new UserError(
      'RANGE_TOO_LARGE',
      `includePrimes is limited to ranges of ${MAX_LIST_RANGE.toLocaleString('en-US')} numbers per chunk; split the range into more chunks`,
    );
  }
  const primes = listPrimes(task.start, task.end);
  const ms = round(performance.now() - started);
  const result: PrimesChunkResult = { start: task.start, end: task.end, count: primes.length, ms };
  const body = JSON.stringify(primes);
  if (body.length <= limits.maxInlineBytes) return { ...result, primes };
  if (!store) {
    throw new UserError(
      'PAYLOAD_TOO_LARGE',
      `${primes.length} primes do not fit in a reply and no store is configured for them`,
    );
  }
  return { ...result, primesObject: await store(task, body) };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
