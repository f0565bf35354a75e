/**
 * Chunk planning and verification for a parallel rates run (design14.md, steps 1 and 3): the data bytes
 * [dataStart, size) cut into byte ranges, and — once the chunks have replied — which of them parsed from a real
 * record start and which must run again from a known one.
 */
import { z } from 'zod';
import { UserError } from '../../errors.ts';

/** Smallest chunk: below this the per-chunk overhead (a task, requests, a temp object) dwarfs the parsing. */
export const MIN_CHUNK_BYTES = 4 * 1024;
/** Most chunks in one run: rates.csv is assembled with one multipart upload, which takes at most 10,000 parts. */
export const MAX_CHUNKS = 10_000;

export interface ChunkRange {
  index: number;
  /** The chunk owns the records that start in [s, e). */
  s: number;
  e: number;
}

const planSchema = z
  .object({
    dataStart: z.number().int().min(1),
    size: z.number().int().min(1),
    chunkBytes: z.number().int().min(MIN_CHUNK_BYTES).optional(),
    workers: z.number().int().min(1).max(MAX_CHUNKS).optional(),
  })
  .refine((p) => p.dataStart <= p.size, { message: 'dataStart must be at most the file size' })
  .refine((p) => (p.chunkBytes === undefined) !== (p.workers === undefined), {
    message: 'give either chunkBytes or workers',
  });

export type PlanInput = z.input<typeof planSchema>;

/**
 * Cuts [dataStart, size) into ranges, by chunk size (the last one may be shorter) or into `workers` ranges of
 * equal size (fewer when that would make them smaller than MIN_CHUNK_BYTES). Always at least one range, even
 * an empty one when the file has no data bytes: chunk 0 writes rates.csv's header line.
 *
 * A chunk size that would need more than MAX_CHUNKS ranges is refused (INVALID_ARGUMENT, naming the smallest
 * chunk size that fits) rather than silently raised: the caller asked for a size, and should choose one.
 */
export function planChunks(input: PlanInput): ChunkRange[] {
  const parsed = planSchema.safeParse(input);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'plan'}: ${i.message}`).join('; ');
    throw new UserError('INVALID_ARGUMENT', `Cannot plan the chunks (${why}).`);
  }
  const { dataStart, size, chunkBytes, workers } = parsed.data;
  const len = size - dataStart;
  if (chunkBytes !== undefined) {
    const count = Math.max(1, Math.ceil(len / chunkBytes));
    if (count > MAX_CHUNKS) {
      throw new UserError(
        'INVALID_ARGUMENT',
        `A chunk size of ${chunkBytes} bytes would cut the ${len} data bytes into ${count} chunks; at most ` +
          `${MAX_CHUNKS} are allowed. Use a chunk size of at least ${Math.ceil(len / MAX_CHUNKS)} bytes.`,
      );
    }
    return Array.from({ length: count }, (_, index) => ({
      index,
      s: dataStart + index * chunkBytes,
      e: Math.min(size, dataStart + (index + 1) * chunkBytes),
    }));
  }
  const count = Math.max(1, Math.min(workers ?? 1, Math.floor(len / MIN_CHUNK_BYTES)));
  const at = (k: number): number => dataStart + Math.floor((k * len) / count);
  return Array.from({ length: count }, (_, index) => ({ index, s: at(index), e: at(index + 1) }));
}

/** The part of a chunk's reply that verification reads (parallel/range-parse.ts, ChunkReply). */
export interface ChunkBounds {
  /** Where its first record starts. */
  start: number;
  /** Where the record after its last one starts. */
  next: number;
}

export interface Verification {
  /** Chunks 0..verified-1 are right: each starts where its predecessor's last record ended. */
  verified: number;
  /** Chunks to run again, each from a known start (the predecessor's `next`); empty when all are right. */
  rerun: { index: number; start: number }[];
}

/**
 * Design14.md step 3. Chunk 0 is right when it starts at its range's start (a known record start); chunk k is
 * right when chunk k-1 is and k starts at k-1's `next`. Every chunk whose start differs from its predecessor's
 * `next` is re-run from that `next`, so one round fixes the first wrong chunk and usually all of them; a chunk
 * after a re-run one is settled in a later round if the re-run moved its predecessor's `next`.
 */
export function verifyChunks(ranges: readonly ChunkRange[], replies: readonly ChunkBounds[]): Verification {
  if (replies.length !== ranges.length || ranges.length === 0) {
    throw new Error(`internal: ${replies.length} chunk replies for ${ranges.length} ranges`);
  }
  const first = replies[0] as ChunkBounds;
  if (first.start !== (ranges[0] as ChunkRange).s) {
    throw new Error(
      `internal: chunk 0 started at ${first.start}, not at the data start ${(ranges[0] as ChunkRange).s}`,
    );
  }
  let verified = 1;
  while (
    verified < replies.length &&
    (replies[verified] as ChunkBounds).start === (replies[verified - 1] as ChunkBounds).next
  ) {
    verified++;
  }
  const rerun: Verification['rerun'] = [];
  for (let k = verified; k < replies.length; k++) {
    const start = (replies[k - 1] as ChunkBounds).next;
    if ((replies[k] as ChunkBounds).start !== start) rerun.push({ index: k, start });
  }
  return { verified, rerun };
}
