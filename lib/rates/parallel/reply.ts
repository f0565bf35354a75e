/**
 * What a chunk reports to the coordinator (design14.md, step 2), and its JSON form: a Lambda's answer is JSON,
 * which has no -0, Infinity or NaN, so the two values that can be -0 or infinite (min, max) are encoded, and
 * the coordinator checks every reply against the schema before trusting it.
 */
import { z } from 'zod';

/** A rate extreme: a number; "-0" for negative zero (JSON would make it 0); null when the chunk has no rate. */
const extreme = z.union([z.number(), z.literal('-0'), z.null()]);
const count = z.number().int().min(0);

export const chunkReplyJsonSchema = z.object({
  start: count,
  next: count,
  lines: count,
  rows: count,
  badRows: count,
  badRowSamples: z.array(z.object({ line: z.number().int().min(1), reason: z.string() })).max(100),
  n: count,
  min: extreme,
  max: extreme,
  inputBytes: count,
  outputBytes: count,
});

export type ChunkReplyJson = z.infer<typeof chunkReplyJsonSchema>;

export interface ChunkReply extends Omit<ChunkReplyJson, 'min' | 'max'> {
  /** Where its first record starts (p): the known start, or the guess. */
  start: number;
  /** Where the record after its last one starts (>= e, or the file's size at its end; `start` if it owns none). */
  next: number;
  /** Physical lines in [start, next): the offset of the next chunk's line numbers. */
  lines: number;
  /** Bad rows have line numbers counted from 1 at `start`; the first 100 are kept. */
  badRowSamples: { line: number; reason: string }[];
  /** Smallest and largest rate (Infinity and -Infinity when n is 0). */
  min: number;
  max: number;
  /** Bytes of the file the chunk owns (next - start), and those it wrote to its output. */
  inputBytes: number;
  outputBytes: number;
}

function encodeExtreme(v: number, n: number): ChunkReplyJson['min'] {
  if (n === 0) return null;
  return Object.is(v, -0) ? '-0' : v;
}

function decodeExtreme(v: ChunkReplyJson['min'], empty: number): number {
  return v === null ? empty : v === '-0' ? -0 : v;
}

export function encodeChunkReply(reply: ChunkReply): ChunkReplyJson {
  return { ...reply, min: encodeExtreme(reply.min, reply.n), max: encodeExtreme(reply.max, reply.n) };
}

/** Checks a reply that came back as JSON; throws (naming the first problem) if it is not one. */
export function decodeChunkReply(json: unknown): ChunkReply {
  const r = chunkReplyJsonSchema.parse(json);
  return { ...r, min: decodeExtreme(r.min, Infinity), max: decodeExtreme(r.max, -Infinity) };
}
