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
import type { JobErrorCode, RatesErrorReport, RatesJobOutcome, RatesSummary } from './outcome.ts';
import { isSameRun, readSummary } from './previous-run.ts';
import { resolveSplit, SPLIT_METADATA, type RatesSplit } from './split.ts';
import { publishRatesResults, writeRatesError, type RatesRunPlace } from './publish.ts';
import { streamedUpload, type StreamedUpload } from './streamed-upload.ts';
import { formatBytes } from '../units.ts';
import type { SplitRequest } from './parallel/coordinator.ts';
import { chooseSplit, type ParallelSetup, runParallelRates } from './parallel/run.ts';
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

/** Uploads live here; only objects under it trigger the job. Results go elsewhere so a run never re-triggers itself. */
export const UPLOADS_PREFIX = 'uploads/';
export const RESULTS_PREFIX = 'results/';

/** S3 user metadata (x-amz-meta-*) that a client may set on an upload to choose this run's options. */
export const METADATA = {
  numerator: 'numerator',
  denominator: 'denominator',
  bins: 'bins',
  runId: 'run-id',
  // How to split the run: `workers`, `chunk-bytes` (split.ts reads them back, and names them for the CLI's checks).
  ...SPLIT_METADATA,
} as const;

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

/**
 * `uploads/2024/counties.csv` → `results/2024/counties/`; null when the key is not an upload. A `.` or `..` path
 * segment (`uploads/../uploads/x.csv`) is refused too: S3 keeps such keys as they are, but an HTTP stack or an
 * S3-compatible server that resolves them would put the results outside `results/` — even back under `uploads/`.
 */
export function resultPrefixFor(key: string): string | null {
  if (!key.startsWith(UPLOADS_PREFIX) || !key.endsWith('.csv')) return null;
  const name = key.slice(UPLOADS_PREFIX.length, -'.csv'.length);
  if (name === '' || name.endsWith('/')) return null;
  if (name.split('/').some((segment) => segment === '.' || segment === '..')) return null;
  return `${RESULTS_PREFIX}${name}/`;
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

  if (prefix === null) {
    return fail(
      'NOT_AN_UPLOAD',
      `Object key "${keyPreview(key)}" is not a CSV upload: the rates job reads keys of the form ${UPLOADS_PREFIX}<name>.csv (without "." or ".." path segments).`,
    );
  }

  // The summary of an earlier run is read alongside the input, which is only streamed once it is known to be needed.
  const previousRun = readSummary(s3, bucket, `${prefix}summary.json`);
  previousRun.catch(() => undefined); // awaited below; not when the input is missing
  let object: GetObjectCommandOutput;
  try {
    object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    if (isNotFound(error)) {
      return fail('OBJECT_NOT_FOUND', `s3://${bucket}/${key} does not exist (deleted before it could be processed?).`);
    }
    throw error;
  }
  place.runId = object.Metadata?.[METADATA.runId] ?? null;
  const body = object.Body as Readable | undefined;
  if (body === undefined) throw new Error(`GetObject s3://${bucket}/${key} returned no body`);
  const eTag = object.ETag?.replaceAll('"', '') ?? null;
  const size = object.ContentLength;
  let split: SplitRequest | null;
  let tooLarge: string | null;
  try {
    split = splitFor(resolveSplit(object.Metadata, input.split), size, eTag, hooks.parallel);
    tooLarge = split === null ? await sizeRefusal(`s3://${bucket}/${keyPreview(key)}`, size, limits, hooks) : null;
  } catch (error) {
    body.destroy();
    if (error instanceof JobInputError || error instanceof RatesFileError) return fail(error.code, error.message);
    throw error;
  }
  if (tooLarge !== null) {
    body.destroy();
    return fail('FILE_TOO_LARGE', tooLarge);
  }

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

  const csvKey = `${prefix}rates.csv`;
  const csv = streamedUpload(s3, bucket, csvKey);
  const computed = await computeWhileUploading(body, csv, options, limits, `s3://${bucket}/${keyPreview(key)}`);
  if ('refusal' in computed) return fail(computed.refusal.code, computed.refusal.message);
  const computeMs = performance.now() - started;
  return publishRatesResults(
    s3,
    { ...place, prefix, eTag, options },
    computed.result,
    { key: csvKey, land: csv.land, abandon: csv.abandon },
    { started, computeMs },
  );
}

/**
 * The split of a run (lib/rates/parallel/run.ts chooseSplit), or null for the single path. A split needs the
 * object's size and ETag (every ranged read is conditional on it) and a deployment with workers: asking for one
 * without them is refused, since the run would silently be something else than what was asked.
 */
function splitFor(
  asked: RatesSplit | undefined,
  size: number | undefined,
  eTag: string | null,
  parallel: ParallelSetup | undefined,
): SplitRequest | null {
  const wanted = asked?.workers !== undefined && asked.workers > 1 ? true : asked?.chunkBytes !== undefined;
  if (parallel === undefined || size === undefined || eTag === null) {
    if (!wanted) return null;
    throw new JobInputError(
      'INVALID_OPTIONS',
      parallel === undefined
        ? 'This deployment has no rates worker function (RATES_WORKER_FUNCTION is not set), so the file cannot be split: run it without workers/chunkBytes.'
        : 'S3 gave no size or ETag for the object, which splitting it by byte range needs: run it without workers/chunkBytes.',
    );
  }
  return chooseSplit(asked, size, parallel);
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
): Promise<string | null> {
  if (bytes === undefined) return null;
  if (bytes > limits.maxInputBytes) {
    return (
      `${where} is ${formatBytes(bytes)}, over the ${formatBytes(limits.maxInputBytes)} the rates Lambda ` +
      `takes (RATES_MAX_INPUT_BYTES): run it on EC2 (\`npx cloud-parallel rates <file> --backend ec2\`, up to ${formatBytes(MAX_SINGLE_PUT_BYTES)}) or split the file.`
    );
  }
  // The statistics spill up to 8 bytes per row to disk (/tmp on Lambda, 512 MB unless ephemeralStorageSize says
  // more): refuse now what cannot fit, rather than fail with ENOSPC minutes into the run.
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
 * Computes the rates of `body` while rates.csv streams up through `csv` (not visible until it lands). A file at
 * fault gives a refusal, after the upload is abandoned; anything else is thrown.
 */
async function computeWhileUploading(
  body: Readable,
  csv: StreamedUpload,
  options: RateOptions,
  limits: RatesLimits,
  where: string,
): Promise<{ result: RatesResult } | { refusal: { code: JobErrorCode; message: string } }> {
  const computing = computeRates(
    body,
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
    if (error instanceof RatesFileError) return { refusal: { code: error.code, message: error.message } };
    // Out of scratch space although the check above passed (something else filled it meanwhile): the same answer as
    // the check's, as a user error, since a retry on the same machine would only run out again.
    if (error instanceof SpillSpaceError)
      return { refusal: { code: 'FILE_TOO_LARGE', message: `${where}: ${error.message}` } };
    // When the upload broke, the computation fails with "output stream destroyed": report the cause instead.
    throw uploadError ?? error;
  }
}
