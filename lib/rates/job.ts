/**
 * The rates job on one uploaded object, as the Lambda runs it: which uploads it takes, which options apply, and
 * the run itself (read, compute while rates.csv streams up, then publish.ts commits). The outcome types are in
 * outcome.ts, the duplicate check in previous-run.ts.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { tmpdir } from 'node:os';
import {
  DEFAULT_RATES_MAX_INPUT_BYTES,
  MAX_SINGLE_PUT_BYTES,
  type RatesDefaults,
  type RatesLimits,
} from '../config.ts';
import { UserError } from '../errors.ts';
import { isNotFound } from '../aws/s3.ts';
import { keyPreview } from '../aws/s3-event.ts';
import { computeRates, type RatesResult } from './csv-rates.ts';
import { rateOptionsSchema, type RateOptions } from './options.ts';
import { RatesFileError } from './errors.ts';
import type { CompressedInput, JobErrorCode, RatesErrorReport, RatesJobOutcome, RatesSummary } from './outcome.ts';
import { GZIP_SINGLE_WORKER_REASON, GZIP_SUFFIX, GzipInputError, gunzipped } from './gzip-input.ts';
import { isSameRun, readSummary } from './previous-run.ts';
import { resolveSplit, type RatesSplit } from './split.ts';
import { isCompressedUpload, METADATA, resultPrefixFor, UPLOADS_PREFIX } from './upload-keys.ts';
import { publishRatesResults, writeRatesError, type RatesRunPlace } from './publish.ts';
import { streamedUpload, type StreamedUpload } from './streamed-upload.ts';
import { formatBytes } from '../units.ts';
import type { SplitRequest } from './parallel/coordinator.ts';
import { splitFor, wouldSplit } from './parallel/choose.ts';
import { type ParallelSetup, runParallelRates } from './parallel/run.ts';
import { freeSpillBytes, SpillSpaceError, spillTooSmallMessage, worstCaseSpillBytes } from './spill.ts';

// One place to import a run's types and its commit from, for the CLI's EC2 path and the client.
export { isAlreadyProcessed } from './outcome.ts';
export type {
  JobErrorCode,
  RatesAlreadyProcessed,
  RatesErrorReport,
  RatesJobOutcome,
  RatesSummary,
} from './outcome.ts';
export { publishRatesResults, RatesPublishError, writeRatesError } from './publish.ts';
export type { ComputedRates, PendingCsv, RatesRunPlace } from './publish.ts';

export interface RatesJobInput {
  bucket: string;
  key: string;
  /** Options given with the invocation; they win over the object's metadata and the deployment defaults. */
  options?: Partial<RateOptions>;
  /**
   * How the invocation asks the run to be split (split.ts, RatesSplit: `workers` or `chunkBytes`, already validated);
   * it wins over the object's metadata (resolveSplit). Absent: the metadata's, else the deployment decides.
   */
  split?: RatesSplit;
}

/**
 * What the caller adds to a run: the workers a big file is split across (none: every file runs here), the
 * signal that stops the run (the function's deadline), and what a test replaces to stand in for the machine
 * (the free space of the spill directory, read with statfs).
 */
export interface RatesJobHooks {
  parallel?: ParallelSetup;
  signal?: AbortSignal;
  freeSpillBytes?: (dir: string) => Promise<number>;
}

/** Thrown for inputs the job rejects on purpose; anything else is an infrastructure failure. */
class JobInputError extends UserError {
  declare readonly code: JobErrorCode;
}

/** Merges invocation options over object metadata over deployment defaults, and validates the result. */
export function resolveOptions(
  defaults: RatesDefaults,
  metadata: Record<string, string> | undefined,
  invocation: Partial<RateOptions> | undefined,
): RateOptions {
  const pick = (name: keyof RateOptions, metadataKey: string) =>
    invocation?.[name] ?? metadata?.[metadataKey] ?? defaults[name];
  const parsed = rateOptionsSchema.safeParse({
    numerator: pick('numerator', METADATA.numerator),
    denominator: pick('denominator', METADATA.denominator),
    bins: pick('bins', METADATA.bins),
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    throw new JobInputError('INVALID_OPTIONS', `Invalid options: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/**
 * Runs the rates job on one uploaded object: stream it, add the rate column, upload `rates.csv` as it is produced,
 * then commit the outputs (publish.ts says what results/<name>/ holds whatever fails). A bad file yields `error.json` and an error outcome, and no partial results.
 * Infrastructure failures (S3 unavailable, a download cut short, ...) are thrown so the caller — Lambda's async
 * retry — can try again; a redelivered event that was already processed returns the existing summary.
 */
export async function runRatesJob(
  s3: S3Client,
  input: RatesJobInput,
  defaults: RatesDefaults,
  limits: RatesLimits = { maxInputBytes: DEFAULT_RATES_MAX_INPUT_BYTES },
  hooks: RatesJobHooks = {},
): Promise<RatesJobOutcome> {
  const started = performance.now();
  const { bucket, key } = input;
  const prefix = resultPrefixFor(key);
  // runId is the object's, known once it is read; the refusals before that report none.
  const place: RatesRunPlace = { bucket, key, prefix, runId: null };
  const fail = (code: JobErrorCode, message: string): Promise<RatesErrorReport> =>
    writeRatesError(s3, place, code, message);

  if (prefix === null) return fail('NOT_AN_UPLOAD', notAnUpload(key));

  // The summary of an earlier run is read alongside the input, which is only streamed once it is known to be needed.
  const previousRun = readSummary(s3, bucket, `${prefix}summary.json`);
  previousRun.catch(() => undefined); // awaited below; not when the input is missing
  const object = await readUpload(s3, bucket, key);
  if (object === null) {
    return fail('OBJECT_NOT_FOUND', `s3://${bucket}/${key} does not exist (deleted before it could be processed?).`);
  }
  place.runId = object.Metadata?.[METADATA.runId] ?? null;
  const { body } = object;
  const eTag = object.ETag?.replaceAll('"', '') ?? null;
  const size = object.ContentLength;
  const compressed = isCompressedUpload(key);
  let route: RunRoute;
  try {
    route = await routeRun(input, object, { eTag, size, compressed, limits, hooks, where: uriOf(bucket, key) });
  } catch (error) {
    body.destroy();
    if (error instanceof JobInputError || error instanceof RatesFileError) return fail(error.code, error.message);
    throw error;
  }
  if ('tooLarge' in route) {
    body.destroy();
    return fail('FILE_TOO_LARGE', route.tooLarge);
  }
  const { split, singleWorkerReason } = route;

  let options: RateOptions;
  let previous: RatesSummary | null;
  try {
    options = resolveOptions(defaults, object.Metadata, input.options);
    previous = await previousRun;
  } catch (error) {
    body.destroy();
    if (error instanceof JobInputError) return fail(error.code, error.message);
    throw error;
  }
  if (previous !== null && isSameRun(previous, { bucket, key, eTag, runId: place.runId, options })) {
    body.destroy();
    return { ...previous, alreadyProcessed: true };
  }

  if (split !== null && hooks.parallel !== undefined && eTag !== null && size !== undefined) {
    // Every data byte is read by the workers; this run reads only the header, with ranged GETs.
    body.destroy();
    return runParallelRates(
      s3,
      { place: { ...place, prefix }, source: { bucket, key, eTag, size }, options, split },
      hooks.parallel,
      hooks.signal,
    );
  }

  return runSingle(s3, { ...place, prefix, eTag, options }, body, {
    compressed,
    storedBytes: size,
    limits,
    started,
    ...(singleWorkerReason === undefined ? {} : { singleWorkerReason }),
  });
}

/** The input as messages name it: its key shortened to what a person can read. */
function uriOf(bucket: string, key: string): string {
  return `s3://${bucket}/${keyPreview(key)}`;
}

function notAnUpload(key: string): string {
  return (
    `Object key "${keyPreview(key)}" is not a CSV upload: the rates job reads keys of the form ${UPLOADS_PREFIX}<name>.csv ` +
    `or ${UPLOADS_PREFIX}<name>${GZIP_SUFFIX} (without "." or ".." path segments).`
  );
}

/** The upload, its body streaming (not read yet); null when it does not exist. */
async function readUpload(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<(GetObjectCommandOutput & { body: Readable }) | null> {
  let object: GetObjectCommandOutput;
  try {
    object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
  const body = object.Body as Readable | undefined;
  if (body === undefined) throw new Error(`GetObject s3://${bucket}/${key} returned no body`);
  return { ...object, body };
}

/** Where a run goes once its object is read: split across workers, or here (saying why when a split was due). */
type RunRoute = { split: SplitRequest | null; singleWorkerReason?: string } | { tooLarge: string };

async function routeRun(
  input: RatesJobInput,
  object: GetObjectCommandOutput,
  context: {
    eTag: string | null;
    size: number | undefined;
    compressed: boolean;
    limits: RatesLimits;
    hooks: RatesJobHooks;
    where: string;
  },
): Promise<RunRoute> {
  const { eTag, size, compressed, limits, hooks, where } = context;
  const asked = resolveSplit(object.Metadata, input.split);
  const split = splitFor(asked, size, eTag, hooks.parallel, compressed);
  if (split !== null) return { split };
  const tooLarge = await sizeRefusal(where, size, limits, hooks, compressed);
  if (tooLarge !== null) return { tooLarge };
  return compressed && wouldSplit(asked, size, hooks.parallel)
    ? { split: null, singleWorkerReason: GZIP_SINGLE_WORKER_REASON }
    : { split: null };
}

/** The single path: the body streamed through the engine while rates.csv streams up, then the commit. */
async function runSingle(
  s3: S3Client,
  place: RatesRunPlace & { prefix: string; eTag: string | null; options: RateOptions },
  body: Readable,
  run: {
    compressed: boolean;
    storedBytes: number | undefined;
    limits: RatesLimits;
    started: number;
    singleWorkerReason?: string;
  },
): Promise<RatesJobOutcome> {
  const { bucket, key, prefix, options } = place;
  const { compressed, limits } = run;
  const csvKey = `${prefix}rates.csv`;
  const csv = streamedUpload(s3, { bucket, key: csvKey });
  const where = uriOf(bucket, key);
  const computed = await computeWhileUploading(
    { body, data: compressed ? gunzipped(body, where, limits.maxInputBytes) : body },
    csv,
    options,
    limits,
    where,
  );
  if ('refusal' in computed) return writeRatesError(s3, place, computed.refusal.code, computed.refusal.message);
  const computeMs = performance.now() - run.started;
  const compression: CompressedInput | undefined = compressed
    ? { compression: 'gzip', storedBytes: run.storedBytes ?? null }
    : undefined;
  return publishRatesResults(
    s3,
    {
      ...place,
      ...(compression === undefined ? {} : { compression }),
      ...(run.singleWorkerReason === undefined ? {} : { singleWorkerReason: run.singleWorkerReason }),
    },
    computed.result,
    { key: csvKey, land: csv.land, abandon: csv.abandon },
    { started: run.started, computeMs },
  );
}

/**
 * Why an input of `bytes` is refused before it is read (`where` names it), or null. Throws when the free space of
 * the spill directory cannot be read: a deployment fault, not the file's.
 */
async function sizeRefusal(
  where: string,
  bytes: number | undefined,
  limits: RatesLimits,
  hooks: RatesJobHooks,
  compressed: boolean,
): Promise<string | null> {
  if (bytes === undefined) return null;
  // For a compressed upload `bytes` is its stored size, a lower bound on the CSV's (deflate grows only data that does
  // not compress, by at most 5 bytes per 16 KiB block — not CSV): over the limit compressed, it is over it as a CSV.
  if (bytes > limits.maxInputBytes) {
    return (
      `${where} is ${formatBytes(bytes)}, over the ${formatBytes(limits.maxInputBytes)} the rates Lambda ` +
      `takes (RATES_MAX_INPUT_BYTES): ${compressed ? 'gunzip it and ' : ''}run it on EC2 (\`npx cloud-parallel rates <file> --backend ec2\`, up to ${formatBytes(MAX_SINGLE_PUT_BYTES)}) or split the file.`
    );
  }
  // The statistics spill up to 8 bytes per row to disk (/tmp on Lambda, 512 MB unless ephemeralStorageSize says
  // more): refuse now what cannot fit, rather than fail with ENOSPC minutes into the run.
  // Not for a compressed upload, whose CSV size is known only once read (the gzip trailer keeps it modulo 4 GiB, and
  // only per member), and a ratio bound would refuse good files (CSV compresses 3–10×) or admit too much. Its CSV is
  // held to maxInputBytes as it decompresses (gzip-input.ts), so the deployed /tmp — sized for the worst-case spill
  // of maxInputBytes (test/serverless-yml.test.ts) — holds it; a smaller spill directory ends as FILE_TOO_LARGE
  // when it fills (SpillSpaceError, below).
  if (compressed) return null;
  const spillDir = limits.spillDir ?? tmpdir();
  let free: number;
  try {
    free = await (hooks.freeSpillBytes ?? freeSpillBytes)(spillDir);
  } catch (error) {
    // A deployment fault (RATES_SPILL_DIR missing or unreadable), not the file's: thrown, and so retried and kept.
    throw new Error(
      `cannot read the free space of the spill directory ${spillDir} (RATES_SPILL_DIR): ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (worstCaseSpillBytes(bytes) > free) return `${where}: ${spillTooSmallMessage(bytes, spillDir, free)}`;
  return null;
}

/**
 * Computes the rates of `input.data` (the object's `body`, or its gunzipped bytes) while rates.csv streams up through
 * `csv` (not visible until it lands). A file at fault gives a refusal, after the upload is abandoned; anything else
 * is thrown.
 */
async function computeWhileUploading(
  input: { body: Readable; data: AsyncIterable<Uint8Array> },
  csv: StreamedUpload,
  options: RateOptions,
  limits: RatesLimits,
  where: string,
): Promise<{ result: RatesResult } | { refusal: { code: JobErrorCode; message: string } }> {
  const { body } = input;
  const computing = computeRates(
    input.data,
    csv.stream,
    options,
    limits.spillDir === undefined ? {} : { spillDir: limits.spillDir },
  );
  computing.catch(() => undefined); // raced below; when the upload fails first, it fails later on its own
  try {
    // When a part upload fails, lib-storage stops reading the stream (today it also destroys it, which fails the
    // computation). Racing the upload's own failure keeps the computation from waiting forever for room in the
    // stream should it ever just stop reading.
    return { result: await Promise.race([computing, csv.failed]) };
  } catch (error) {
    body.destroy();
    // Waits until a multipart upload is aborted (not just until the SDK gives up waiting for it).
    const uploadError = await csv.abandon();
    if (error instanceof RatesFileError || error instanceof GzipInputError) {
      return { refusal: { code: error.code, message: error.message } };
    }
    // Out of scratch space although the check above passed (something else filled it meanwhile): the same answer as
    // the check's, as a user error, since a retry on the same machine would only run out again.
    if (error instanceof SpillSpaceError)
      return { refusal: { code: 'FILE_TOO_LARGE', message: `${where}: ${error.message}` } };
    // When the upload broke, the computation fails with "output stream destroyed": report the cause instead.
    throw uploadError ?? error;
  }
}
