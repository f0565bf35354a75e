/**
 * How a user asks for a parallel rates run — into `workers` ranges, or into ranges of `chunkBytes` — and the one
 * schema both ways in (a direct invocation, the upload's S3 metadata that the CLI sets) judge it by. Loads no AWS
 * client, so the CLI checks its flags with these rules before anything starts.
 */
import { z } from 'zod';
import { readByteSize } from '../units.ts';
import { RatesFileError } from './errors.ts';
import { MAX_CHUNKS, MIN_CHUNK_BYTES } from './parallel/chunks.ts';

/** A run's split as asked for; at most one of the two. Neither: the deployment decides (by the file's size). */
export interface RatesSplit {
  /** Cut the data into this many ranges of equal size, 1..10000; 1 forces the single-worker path. */
  workers?: number;
  /** Cut the data into ranges of this many bytes (the last one shorter), at least MIN_CHUNK_BYTES. */
  chunkBytes?: number;
}

/** The S3 user metadata (x-amz-meta-*) carrying the split; lib/rates/upload-keys.ts's METADATA includes them. */
export const SPLIT_METADATA = { workers: 'workers', chunkBytes: 'chunk-bytes' } as const;

export const MAX_WORKERS = MAX_CHUNKS;

// Strings of digits are read as numbers: S3 metadata carries nothing else, and a direct invocation may quote a
// number (as it may for bins). Other strings stay strings and are refused.
const wholeFromDigits = (value: unknown): unknown =>
  typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;

export const workersSchema = z.preprocess(
  wholeFromDigits,
  z
    .number({ error: `must be a whole number from 1 to ${MAX_WORKERS}` })
    .int('must be a whole number')
    .min(1, 'must be at least 1 (1 runs the file on one worker)')
    .max(MAX_WORKERS, `must be at most ${MAX_WORKERS} (one multipart upload takes at most that many parts)`),
);

/** A number of bytes, or a size string such as "64MiB" (lib/units.ts parseByteSize's forms). */
export const chunkBytesSchema = z
  .union([z.number(), z.string()], { error: 'must be a number of bytes or a size such as "64MiB"' })
  .transform((value, context) => {
    if (typeof value === 'number') return value;
    const read = readByteSize(value);
    if ('bytes' in read) return read.bytes;
    context.addIssue({ code: 'custom', message: read.refusal });
    return z.NEVER;
  })
  .pipe(
    z
      .number()
      .int('must be a whole number of bytes')
      .min(
        MIN_CHUNK_BYTES,
        `must be at least ${MIN_CHUNK_BYTES} bytes (4 KiB): below that each chunk costs more than it parses`,
      ),
  );

/** The fields a split is given by, for a schema that takes them among others (a direct invocation). */
export const splitShape = { workers: workersSchema.optional(), chunkBytes: chunkBytesSchema.optional() };

/** The rule between the fields: a number of workers or a chunk size, not both (each decides the other). */
export function refineOneSplit(value: RatesSplit, context: z.RefinementCtx): void {
  if (value.workers !== undefined && value.chunkBytes !== undefined) {
    context.addIssue({ code: 'custom', message: 'give workers or chunkBytes, not both', path: [] });
  }
}

export const ratesSplitSchema = z.object(splitShape).superRefine(refineOneSplit);

/**
 * The split the upload's metadata asks for (`x-amz-meta-workers`, `x-amz-meta-chunk-bytes`), judged as a direct
 * invocation's is. An empty object when neither is set. A bad value throws a RatesFileError (INVALID_OPTIONS, a
 * UserError) naming the metadata key and the value.
 */
export function splitFromMetadata(metadata: Record<string, string> | undefined): RatesSplit {
  const given: Record<keyof RatesSplit, string | undefined> = {
    workers: metadata?.[SPLIT_METADATA.workers],
    chunkBytes: metadata?.[SPLIT_METADATA.chunkBytes],
  };
  const parsed = ratesSplitSchema.safeParse(given);
  if (parsed.success) return withoutUndefined(parsed.data);
  const problems = parsed.error.issues.map((issue) => {
    const field = issue.path[0] as keyof RatesSplit | undefined;
    if (field === undefined) {
      return `set ${metadataName('workers')} or ${metadataName('chunkBytes')}, not both`;
    }
    const value = JSON.stringify(given[field]?.slice(0, 60));
    // A size's own refusal already quotes the value.
    return `${metadataName(field)} ${issue.message.startsWith(value) ? '' : `${value} `}${issue.message}`;
  });
  throw new RatesFileError('INVALID_OPTIONS', `Invalid options in the upload's metadata: ${problems.join('; ')}.`);
}

/** The split a run uses: the invocation's when it gives one (it wins, as for the other options), else the upload's. */
export function resolveSplit(
  metadata: Record<string, string> | undefined,
  invocation: RatesSplit | undefined,
): RatesSplit {
  if (invocation !== undefined && (invocation.workers !== undefined || invocation.chunkBytes !== undefined)) {
    return withoutUndefined(invocation);
  }
  return splitFromMetadata(metadata);
}

const metadataName = (field: keyof RatesSplit): string => `x-amz-meta-${SPLIT_METADATA[field]}`;

function withoutUndefined(split: RatesSplit): RatesSplit {
  const out: RatesSplit = {};
  if (split.workers !== undefined) out.workers = split.workers;
  if (split.chunkBytes !== undefined) out.chunkBytes = split.chunkBytes;
  return out;
}
