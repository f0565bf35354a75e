/**
 * The contract between the parallel rates coordinator and its workers (the `rates-worker` function, a local
 * worker thread or an EC2 instance): the two tasks a worker runs and what it answers, as zod schemas, because
 * both cross a JSON boundary (a Lambda payload) and a worker must refuse a task it cannot trust.
 *
 * - `parse`: one byte range of the upload through the single path's engine (range-parse.ts). The worker reads
 *   the upload with ranged GETs conditional on its ETag, writes the chunk's rates (little-endian Float64, row order)
 *   to a scratch key and its rates.csv bytes either all to a scratch key, or — when the task hands it `parts` —
 *   straight into rates.csv's multipart upload as parts of the numbers it was given, keeping only the last few MiB
 *   for the scratch key (part-writer.ts says why); it answers the chunk's reply (reply.ts) plus what it wrote.
 * - `stats`: one round of the exact statistics (stats-rounds.ts) answered from one chunk's values object.
 *
 * Scratch objects live under SCRATCH_PREFIX, which the bucket's lifecycle rule expires after a day and the
 * worker role alone may write; the only other object a worker writes to is a result's rates.csv, and only as parts
 * of the multipart upload the coordinator opened: a worker refuses a task that would make it write anywhere else.
 */
import { z } from 'zod';
import { MAX_PARTS, S3_PART_LIMITS } from '../../aws/concat-plan.ts';
import { bucketName } from '../../config.ts';
import { rateOptionsSchema } from '../options.ts';
import type { RangeTask } from './range-parse.ts';
import { chunkReplyJsonSchema } from './reply.ts';
import { statsPlanSchema } from './stats-wire.ts';

/** Where a parallel run keeps its scratch objects: `runs/rates/<run>/…` (serverless.yml expires runs/ after a day). */
export const SCRATCH_PREFIX = 'runs/rates/';

const count = z.number().int().min(0);
const key = z.string().min(1).max(1024);
const noDotSegments = (k: string) => !k.split('/').some((segment) => segment === '.' || segment === '..');
const scratchKey = key.refine(
  (k) => k.startsWith(SCRATCH_PREFIX) && noDotSegments(k),
  `must be a key under ${SCRATCH_PREFIX} without "." or ".." segments`,
);

const resultCsvKey = key.refine(
  (k) => /^results\/.+\/rates\.csv$/.test(k) && noDotSegments(k),
  'must be a results/<name>/rates.csv key without "." or ".." segments',
);
const partNumber = z.number().int().min(1).max(MAX_PARTS);

/**
 * The part numbers a chunk may upload into rates.csv's multipart upload: `first`, `first + 1`, … at most `count` of
 * them, each part `partBytes` long but the chunk's last bytes, which go to the scratch key (part-writer.ts).
 */
export const partGrantSchema = z
  .strictObject({
    key: resultCsvKey,
    uploadId: z.string().min(1).max(1024),
    first: partNumber,
    count: z.number().int().min(1).max(MAX_PARTS),
    partBytes: z.number().int().min(S3_PART_LIMITS.minPart).max(S3_PART_LIMITS.maxPart),
  })
  .refine((g) => g.first + g.count - 1 <= MAX_PARTS, `the part numbers must end by ${MAX_PARTS}`);

export type PartGrant = z.infer<typeof partGrantSchema>;

/** The upload being split: read only while its ETag is this one (a new upload mid-run fails the chunk). */
const sourceSchema = z.strictObject({ bucket: bucketName, key, eTag: z.string().min(1), size: count });

const startSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('known'), at: count }),
  z.strictObject({ kind: z.literal('guess') }),
]);

const headerSchema = z.strictObject({
  columns: z.array(z.string()).min(1),
  numIdx: count,
  denIdx: count,
  rateColumn: z.string().min(1),
});

export const parseTaskSchema = z.strictObject({
  kind: z.literal('parse'),
  source: sourceSchema,
  index: count,
  /** The chunk owns the records that start in [s, e). */
  s: z.number().int().min(1),
  e: z.number().int().min(1),
  start: startSchema,
  options: rateOptionsSchema,
  header: headerSchema,
  /** rates.csv's first line, base64 (chunk 0 only): parallel/header.ts's `outputLine`. */
  headerLine: z.string().nullable(),
  /** Where the chunk's rates.csv bytes and its values go (in the source's bucket). */
  output: z.strictObject({ csv: scratchKey, values: scratchKey }),
  /** Null: all of the chunk's rates.csv bytes go to `output.csv`. */
  parts: partGrantSchema.nullable(),
});

export type ParseTask = z.infer<typeof parseTaskSchema>;

/** A scratch object a worker wrote: its key, bytes and ETag (the coordinator reads it only while it is that one). */
const writtenSchema = z.strictObject({ key: scratchKey, bytes: count, eTag: z.string().min(1) });

/** A part a worker uploaded into rates.csv's multipart upload. */
export const uploadedPartSchema = z.strictObject({ partNumber, eTag: z.string().min(1), bytes: count });
export type UploadedPart = z.infer<typeof uploadedPartSchema>;

export const parseResultSchema = z.strictObject({
  reply: chunkReplyJsonSchema,
  /** The chunk's first rates.csv bytes, in part order (empty without a grant); `csv` holds the rest. */
  parts: z.array(uploadedPartSchema).max(MAX_PARTS),
  csv: writtenSchema,
  values: writtenSchema,
  /** Time spent on the task in the worker. */
  ms: z.number().min(0),
});

export type ParseResult = z.infer<typeof parseResultSchema>;

export const statsTaskSchema = z.strictObject({
  kind: z.literal('stats'),
  /** One chunk's values object: `count` little-endian Float64 rates. */
  values: z.strictObject({ bucket: bucketName, key: scratchKey, eTag: z.string().min(1), count }),
  plan: statsPlanSchema,
});

export type StatsTask = z.infer<typeof statsTaskSchema>;

export const workerTaskSchema = z.discriminatedUnion('kind', [parseTaskSchema, statsTaskSchema]);
export type WorkerTask = z.infer<typeof workerTaskSchema>;

/** A parse task's range as parseRange takes it (its header line decoded), wherever the task runs. */
export function rangeTaskOf(
  task: Pick<ParseTask, 'options' | 'header' | 's' | 'e' | 'start' | 'headerLine'>,
): RangeTask {
  return {
    options: task.options,
    header: task.header,
    s: task.s,
    e: task.e,
    start: task.start,
    headerLine: task.headerLine === null ? null : Buffer.from(task.headerLine, 'base64'),
  };
}
