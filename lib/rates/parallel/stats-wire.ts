/**
 * The JSON shapes that cross Lambda in the statistics rounds (stats-rounds.ts), their zod schemas, and the
 * lossless encodings they use: bulk doubles and counts as base64 of little-endian typed arrays (every bit kept,
 * -0 included, ~1.33 bytes per byte), and single doubles as JSON numbers except -0, which JSON would turn into 0
 * and is therefore sent as the string "-0".
 */
import { endianness } from 'node:os';
import { z } from 'zod';

// Typed arrays are viewed as bytes directly; the wire format is little-endian, as the values objects are.
if (endianness() !== 'LE') throw new Error('lib/rates/parallel/stats-wire.ts assumes a little-endian platform');

/** A finite double that survives JSON: -0 travels as "-0". */
export type WireNumber = number | '-0';

export function toWire(x: number): WireNumber {
  return Object.is(x, -0) ? '-0' : x;
}

export function fromWire(x: WireNumber): number {
  return x === '-0' ? -0 : x;
}

const wireNumber = z.union([z.number().refine(Number.isFinite, 'must be finite'), z.literal('-0')]);
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');

export function encodeF64(values: Float64Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

export function encodeU32(values: Uint32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

export function decodeF64(text: string): Float64Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 8 !== 0) throw new RangeError(`a Float64 array of ${bytes.length} bytes`);
  // Copied into a fresh buffer: Buffer.from may hand back a slice of a shared pool at any alignment.
  const out = new Float64Array(bytes.length / 8);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export function decodeU32(text: string): Uint32Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0) throw new RangeError(`a Uint32 array of ${bytes.length} bytes`);
  const out = new Uint32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

const levelSchema = z.object({
  lo: wireNumber,
  scale: z.number().positive().refine(Number.isFinite, 'must be finite'),
  buckets: z.number().int().min(2),
  k: z.number().int().min(0),
});

const rootSchema = z.object({ lo: wireNumber, scale: z.number().positive(), buckets: z.number().int().min(2) });

/** The first round: histogram edges, exact sum, and the root counts (or every value). */
export const firstPlanSchema = z.object({
  kind: z.literal('first'),
  round: z.literal(0),
  /** The chunk computes the edges with histogramEdges(min, max, bins), as the coordinator does: no edge travels. */
  hist: z.object({ min: wireNumber, max: wireNumber, bins: z.number().int().min(1) }),
  root: rootSchema.nullable(),
  collectAll: z.boolean(),
});

/** A later round: bucket counts of the split cells, the values of the collect cells. */
export const refinePlanSchema = z.object({
  kind: z.literal('refine'),
  round: z.number().int().min(1),
  root: rootSchema,
  splits: z.array(z.object({ chain: z.array(levelSchema).min(1), lo: wireNumber, scale: z.number().positive() })),
  collects: z.array(z.object({ chain: z.array(levelSchema).min(1), count: z.number().int().min(1) })),
});

export const statsPlanSchema = z.discriminatedUnion('kind', [firstPlanSchema, refinePlanSchema]);
export type StatsPlan = z.infer<typeof statsPlanSchema>;
export type FirstPlanWire = z.infer<typeof firstPlanSchema>;
export type RefinePlanWire = z.infer<typeof refinePlanSchema>;

/** Counts of the non-empty buckets only: `idx` and `counts` are base64 Uint32 arrays of equal length. */
const sparseSchema = z.object({ idx: base64, counts: base64 });
export type SparseWire = z.infer<typeof sparseSchema>;

/** A chunk's values in one cell, sorted and run-length coded: distinct values (Float64) and their counts. */
const runsSchema = z.object({ values: base64, counts: base64 });
export type RunsWire = z.infer<typeof runsSchema>;

export const firstAnswerSchema = z.object({
  kind: z.literal('first'),
  round: z.literal(0),
  /** Values in the chunk. */
  n: z.number().int().min(0),
  hist: sparseSchema,
  /** ExactSum.partials() of the chunk's values. */
  partials: z.array(z.number().refine(Number.isFinite, 'must be finite')),
  root: sparseSchema.nullable(),
  all: runsSchema.nullable(),
});

/** Per split: sparse counts plus each non-empty bucket's min and max (base64 Float64, same order as `idx`). */
const splitAnswerSchema = sparseSchema.extend({ mins: base64, maxs: base64 });

export const refineAnswerSchema = z.object({
  kind: z.literal('refine'),
  round: z.number().int().min(1),
  splits: z.array(splitAnswerSchema),
  collects: z.array(runsSchema),
});

export const statsAnswerSchema = z.discriminatedUnion('kind', [firstAnswerSchema, refineAnswerSchema]);
export type StatsAnswer = z.infer<typeof statsAnswerSchema>;
export type FirstAnswerWire = z.infer<typeof firstAnswerSchema>;
export type RefineAnswerWire = z.infer<typeof refineAnswerSchema>;
export type SplitAnswerWire = z.infer<typeof splitAnswerSchema>;

/** The non-zero entries of `counts`. */
export function encodeSparse(counts: ArrayLike<number>): SparseWire {
  const idx: number[] = [];
  const cnt: number[] = [];
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k] as number;
    if (c !== 0) {
      idx.push(k);
      cnt.push(c);
    }
  }
  return { idx: encodeU32(Uint32Array.from(idx)), counts: encodeU32(Uint32Array.from(cnt)) };
}

/** A split's counts of the non-empty buckets, with each one's min and max. */
export function encodeSplit(counts: Float64Array, mins: Float64Array, maxs: Float64Array): SplitAnswerWire {
  const nonEmpty: number[] = [];
  for (let k = 0; k < counts.length; k++) if (counts[k] !== 0) nonEmpty.push(k);
  return {
    ...encodeSparse(counts),
    mins: encodeF64(Float64Array.from(nonEmpty, (k) => mins[k] as number)),
    maxs: encodeF64(Float64Array.from(nonEmpty, (k) => maxs[k] as number)),
  };
}

/** Adds sparse counts into `into`, checking every index. */
export function addSparse(into: Float64Array | Uint32Array, wire: SparseWire): void {
  const idx = decodeU32(wire.idx);
  const counts = decodeU32(wire.counts);
  if (idx.length !== counts.length) throw new RangeError('sparse counts: idx and counts differ in length');
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i] as number;
    if (k >= into.length) throw new RangeError(`sparse counts: index ${k} out of ${into.length}`);
    into[k] = (into[k] as number) + (counts[i] as number);
  }
}

/** Sorts `values` in place (the order Float64Array.sort gives: -0 before 0) and run-length codes them. */
export function encodeRuns(values: Float64Array): RunsWire {
  values.sort();
  const distinct: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    const last = counts.length - 1;
    if (last >= 0 && Object.is(distinct[last], v)) counts[last] = (counts[last] as number) + 1;
    else {
      distinct.push(v);
      counts.push(1);
    }
  }
  return { values: encodeF64(Float64Array.from(distinct)), counts: encodeU32(Uint32Array.from(counts)) };
}

/** Writes the values of `wire` into `into` from `at`; returns the position after them. */
export function expandRuns(wire: RunsWire, into: Float64Array, at: number): number {
  const values = decodeF64(wire.values);
  const counts = decodeU32(wire.counts);
  if (values.length !== counts.length) throw new RangeError('runs: values and counts differ in length');
  let pos = at;
  for (let i = 0; i < values.length; i++) {
    const c = counts[i] as number;
    if (pos + c > into.length) throw new RangeError(`runs: more values than the ${into.length} expected`);
    into.fill(values[i] as number, pos, pos + c);
    pos += c;
  }
  return pos;
}
