import { tmpdir } from 'node:os';
import { PassThrough, type Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { z } from 'zod';
import { DEFAULT_RATES_MAX_INPUT_BYTES, MAX_SINGLE_PUT_BYTES, type RatesDefaults, type RatesLimits } from '../config.ts';
import { InfrastructureError, UserError } from '../errors.ts';
import { isNotFound, s3Uri } from '../aws/s3.ts';
import { keyPreview } from '../aws/s3-event.ts';
import type { BadRow } from './bad-rows.ts';
import { computeRates, type RatesResult } from './csv-rates.ts';
import { rateOptionsSchema, type RateOptions } from './options.ts';
import { RatesFileError, type RatesErrorCode } from './errors.ts';
import { renderHistogram } from './chart.ts';
import { formatBytes } from '../units.ts';
import { freeSpillBytes, SpillSpaceError, spillTooSmallMessage, worstCaseSpillBytes } from './spill.ts';

/** Uploads live here; only objects under it trigger the job. Results go elsewhere so a run never re-triggers itself. */
export const UPLOADS_PREFIX = 'uploads/';
export const RESULTS_PREFIX = 'results/';
/** The outputs summary.json vouches for (see "What results/<name>/ holds" below). */
const OUTPUT_FILES = ['rates.csv', 'histogram.png', 'histogram.svg'] as const;

/** S3 user metadata (x-amz-meta-*) that a client may set on an upload to choose this run's options. */
export const METADATA = { numerator: 'numerator', denominator: 'denominator', bins: 'bins', runId: 'run-id' } as const;

export type JobErrorCode = RatesErrorCode | 'NOT_AN_UPLOAD' | 'OBJECT_NOT_FOUND' | 'FILE_TOO_LARGE' | 'INTERNAL';

export interface RatesJobInput {
  bucket: string;
  key: string;
  /** Options given with the invocation; they win over the object's metadata and the deployment defaults. */
  options?: Partial<RateOptions>;
}

export interface RatesSummary {
  status: 'ok';
  runId: string | null;
  input: { bucket: string; key: string; bytes: number; eTag: string | null };
  options: RateOptions;
  rateColumn: string;
  rows: number;
  badRows: { count: number; samples: BadRow[] };
  stats: { min: number; max: number; mean: number; median: number; p95: number };
  histogram: { edges: number[]; counts: number[] };
  outputs: { csv: string; png: string; svg: string; summary: string };
  /** computeMs: download + parse + statistics (the upload of rates.csv streams alongside); uploadMs: from then
   *  until rates.csv is complete (the chart is drawn meanwhile, taking chartMs); totalMs: the whole run. */
  timings: { computeMs: number; uploadMs: number; chartMs: number; totalMs: number };
  finishedAt: string;
}

export interface RatesErrorReport {
  status: 'error';
  runId: string | null;
  input: { bucket: string; key: string };
  error: { code: JobErrorCode; message: string };
  /** Where the error report was written, or null when the key gives no place to write it. */
  errorObject: string | null;
  finishedAt: string;
}

/**
 * The reply to a redelivered event (S3 delivers each notification at least once): the object's current version was
 * already processed with the same options and run id, so the job did nothing and returns the summary.json of the run
 * that did — the results were neither recomputed nor rewritten.
 */
export interface RatesAlreadyProcessed extends RatesSummary {
  alreadyProcessed: true;
}

export type RatesJobOutcome = RatesSummary | RatesAlreadyProcessed | RatesErrorReport;

/** True for the reply to a redelivered event (see RatesAlreadyProcessed). */
export function isAlreadyProcessed(outcome: RatesJobOutcome): outcome is RatesAlreadyProcessed {
  return outcome.status === 'ok' && 'alreadyProcessed' in outcome && outcome.alreadyProcessed === true;
}

/** What a test replaces to stand in for the machine (the free space of the spill directory, read with statfs). */
export interface RatesJobHooks {
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

/*
 * WHAT results/<name>/ HOLDS, WHATEVER FAILS
 *
 * S3 has no transaction over several objects, so the outputs cannot all change at once. Instead summary.json is the
 * commit marker, written last, and the job keeps these rules:
 *
 *   1. summary.json present ⇒ rates.csv, histogram.png and histogram.svg are there and were written by the run it
 *      describes (its input ETag, options and run id). A reader trusts the outputs only through summary.json.
 *   2. error.json and summary.json are never both there.
 *   3. After a run that fails (throws: an S3 error, a cut download, ...), results/<name>/ holds the previous run's
 *      complete set untouched, or nothing — never this run's outputs next to the previous run's, never rates.csv
 *      without its summary.json. Lambda's retry then writes the complete new set.
 *
 * How: nothing of this run is visible until everything is computed — rates.csv streams up as the input is read,
 * but S3 shows it only when its single PutObject or its CompleteMultipartUpload is sent, and that happens only
 * once the whole file was read and the statistics are done (a failure before that aborts the upload and leaves
 * the previous set as it was). Then the commit: delete summary.json (and error.json) first, so from that moment
 * nothing vouches for the old outputs; land rates.csv; put the histograms; put summary.json. If any step of the
 * commit fails, this run removes what it may have written — summary.json first, then the other outputs — before
 * rethrowing, so results/<name>/ is empty until the retry.
 *
 * Rule 3 needs that clean-up (a few DeleteObjects) to work. When S3 refuses those too, rules 1 and 2 still hold
 * (summary.json is gone before anything else changes) and the thrown error says the clean-up failed; the retry —
 * or the bucket's lifecycle rule, for an aborted multipart upload's parts — finishes the job.
 *
 * DUPLICATES. S3 delivers each notification at least once, and Lambda retries failed runs. Before computing, a run
 * reads summary.json: when it describes this very object version (same ETag), the same resolved options and the
 * same run id (so a client waiting for its run id is always answered), the run stops there and returns that
 * summary with `alreadyProcessed: true`, rewriting nothing. A new upload of the key (a new ETag), other options
 * (invocation or metadata) or another run id is processed. Re-uploading the same bytes gives the same ETag and so
 * counts as a duplicate — rightly: the same bytes give the same results. An error.json outcome is not
 * deduplicated: a bad file fails fast, and error.json is rewritten with the same content. Two deliveries running
 * at the same moment are not locked out against each other: both compute and write the same outputs (summary.json
 * differs only in its timings), and whichever commits last leaves a complete set.
 */

/**
 * Runs the rates job on one uploaded object: stream it, add the rate column, upload `rates.csv` as it is produced,
 * then commit the outputs (see above). A bad file yields `error.json` and an error outcome, and no partial results.
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
  let runId: string | null = null;

  const fail = (code: JobErrorCode, message: string): Promise<RatesErrorReport> => writeRatesError(s3, { bucket, key, prefix, runId }, code, message);

  if (prefix === null) {
    return fail(
      'NOT_AN_UPLOAD',
      `Object key "${keyPreview(key)}" is not a CSV upload: the rates job reads keys of the form ${UPLOADS_PREFIX}<name>.csv (without "." or ".." path segments).`,
    );
  }

  // The summary of an earlier run is read alongside the input, which is only streamed once it is known to be needed.
  const previousRun = readSummary(s3, bucket, `${prefix}summary.json`);
  previousRun.catch(() => undefined); // awaited below; not when the input is missing
  let object;
  try {
    object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    if (isNotFound(error)) {
      return fail('OBJECT_NOT_FOUND', `s3://${bucket}/${key} does not exist (deleted before it could be processed?).`);
    }
    throw error;
  }
  runId = object.Metadata?.[METADATA.runId] ?? null;
  const body = object.Body as Readable | undefined;
  if (body === undefined) throw new Error(`GetObject s3://${bucket}/${key} returned no body`);
  const eTag = object.ETag?.replaceAll('"', '') ?? null;
  if (object.ContentLength !== undefined && object.ContentLength > limits.maxInputBytes) {
    body.destroy();
    return fail(
      'FILE_TOO_LARGE',
      `s3://${bucket}/${keyPreview(key)} is ${formatBytes(object.ContentLength)}, over the ${formatBytes(limits.maxInputBytes)} the rates Lambda ` +
        `takes (RATES_MAX_INPUT_BYTES): run it on EC2 (\`npx cloud-parallel rates <file> --backend ec2\`, up to ${formatBytes(MAX_SINGLE_PUT_BYTES)}) or split the file.`,
    );
  }

  if (object.ContentLength !== undefined) {
    // The statistics spill up to 8 bytes per row to disk (/tmp on Lambda, 512 MB unless ephemeralStorageSize says
    // more): refuse now what cannot fit, rather than fail with ENOSPC minutes into the run.
    const spillDir = limits.spillDir ?? tmpdir();
    let free: number;
    try {
      free = await (hooks.freeSpillBytes ?? freeSpillBytes)(spillDir);
    } catch (error) {
      body.destroy();
      // A deployment fault (RATES_SPILL_DIR missing or unreadable), not the file's: thrown, and so retried and kept.
      throw new Error(`cannot read the free space of the spill directory ${spillDir} (RATES_SPILL_DIR): ${(error as Error).message}`, { cause: error });
    }
    if (worstCaseSpillBytes(object.ContentLength) > free) {
      body.destroy();
      return fail('FILE_TOO_LARGE', `s3://${bucket}/${keyPreview(key)}: ${spillTooSmallMessage(object.ContentLength, spillDir, free)}`);
    }
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
  if (previous !== null && isSameRun(previous, { bucket, key, eTag, runId, options })) {
    body.destroy();
    return { ...previous, alreadyProcessed: true };
  }

  const csvKey = `${prefix}rates.csv`;
  const csv = streamedUpload(s3, bucket, csvKey);
  const computing = computeRates(body, csv.stream, options, limits.spillDir === undefined ? {} : { spillDir: limits.spillDir });
  computing.catch(() => undefined); // raced below; when the upload fails first, it fails later on its own
  let result;
  try {
    // When a part upload fails, lib-storage stops reading the stream (today it also destroys it, which fails the
    // computation). Racing the upload's own failure keeps the computation from waiting forever for room in the
    // stream should it ever just stop reading.
    result = await Promise.race([computing, csv.failed]);
  } catch (error) {
    body.destroy();
    // Waits until a multipart upload is aborted (not just until the SDK gives up waiting for it).
    const uploadError = await csv.abandon();
    if (error instanceof RatesFileError) return fail(error.code, error.message);
    // Out of scratch space although the check above passed (something else filled it meanwhile): the same answer as
    // the check's, as a user error, since a retry on the same machine would only run out again.
    if (error instanceof SpillSpaceError) return fail('FILE_TOO_LARGE', `s3://${bucket}/${keyPreview(key)}: ${error.message}`);
    // When the upload broke, the computation fails with "output stream destroyed": report the cause instead.
    throw uploadError ?? error;
  }
  const computeMs = performance.now() - started;
  return publishRatesResults(s3, { bucket, key, prefix, runId, eTag, options }, result, { key: csvKey, land: csv.land, abandon: csv.abandon }, { started, computeMs });
}

/**
 * `rates.csv` uploaded as it is produced, visible in S3 only once `land()` is called: a stream of unknown length goes
 * up as one PutObject when it ends (under 5 MB) or as a multipart upload that is completed when it ends.
 */
function streamedUpload(s3: S3Client, bucket: string, key: string) {
  const stream = new PassThrough({ highWaterMark: 1 << 20 });
  // abandon() destroys the stream with an error; lib-storage reads it while it uploads, but perhaps no longer then.
  stream.on('error', () => undefined);
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: stream, ContentType: 'text/csv; charset=utf-8' },
    queueSize: 4,
    partSize: 5 * 1024 * 1024,
    leavePartsOnError: false,
  });
  const done = upload.done();
  done.catch(() => undefined); // observed through failed / land / abandon
  const abandoned = new Error('rates.csv upload abandoned');
  const failed = new Promise<never>((_resolve, reject) => {
    done.catch(reject);
  });
  failed.catch(() => undefined);
  return {
    stream,
    /** Rejects if the upload fails on its own (never resolves). */
    failed,
    /** Ends the stream, so rates.csv appears; resolves once it is there. */
    land: (): Promise<unknown> => {
      stream.end();
      return done;
    },
    /**
     * Makes sure rates.csv can no longer appear, and waits for lib-storage to abort its multipart upload (it does so
     * when the stream errors; `Upload.abort()` would only stop waiting for it). Resolves with the upload's own error,
     * if it failed for a reason other than this.
     */
    abandon: async (): Promise<unknown> => {
      stream.destroy(abandoned);
      const error = await done.then(
        () => undefined,
        (reason: unknown) => reason,
      );
      return error === abandoned ? undefined : error;
    },
  };
}

/** summary.json of an earlier run, or null when there is none (or it is unreadable: the run then recomputes it). */
async function readSummary(s3: S3Client, bucket: string, key: string): Promise<RatesSummary | null> {
  let text: string;
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = await (object.Body as Readable & { transformToString(): Promise<string> }).transformToString();
  } catch (error) {
    // Without s3:ListBucket (the function has none on results/), S3 answers a missing key with 403, not 404.
    if (isNotFound(error) || isAccessDenied(error)) return null;
    throw error;
  }
  try {
    const parsed = storedSummarySchema.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data as unknown as RatesSummary) : null;
  } catch {
    return null;
  }
}

/** What a duplicate check reads in summary.json; the rest is returned as stored. */
const storedSummarySchema = z.looseObject({
  status: z.literal('ok'),
  runId: z.string().nullable(),
  input: z.looseObject({ bucket: z.string(), key: z.string(), eTag: z.string().nullable() }),
  options: z.object({ numerator: z.string(), denominator: z.string(), bins: z.number() }),
});

function isSameRun(
  summary: RatesSummary,
  run: { bucket: string; key: string; eTag: string | null; runId: string | null; options: RateOptions },
): boolean {
  return (
    run.eTag !== null &&
    summary.input.eTag === run.eTag &&
    summary.input.bucket === run.bucket &&
    summary.input.key === run.key &&
    summary.runId === run.runId &&
    summary.options.numerator === run.options.numerator &&
    summary.options.denominator === run.options.denominator &&
    summary.options.bins === run.options.bins
  );
}

function isAccessDenied(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === 'AccessDenied' || $metadata?.httpStatusCode === 403;
}

/** Where a run's report goes, and which run it is. */
export interface RatesRunPlace {
  bucket: string;
  /** The input object's key, as reported in summary.json / error.json. */
  key: string;
  /** `results/<name>/`, or null when the key gives no place to write (not an upload). */
  prefix: string | null;
  runId: string | null;
}

/**
 * Writes `error.json` for a run that failed on its input, and removes an older run's outputs so they do not
 * look current. Shared by the Lambda path and the EC2 path (lib/rates/ec2.ts).
 */
export async function writeRatesError(s3: S3Client, place: RatesRunPlace, code: JobErrorCode, message: string): Promise<RatesErrorReport> {
  const { bucket, key, prefix, runId } = place;
  const report: RatesErrorReport = {
    status: 'error',
    runId,
    input: { bucket, key },
    error: { code, message },
    errorObject: prefix === null ? null : s3Uri(bucket, `${prefix}error.json`),
    finishedAt: new Date().toISOString(),
  };
  if (prefix !== null) {
    // A failed re-run must not leave an older run's outputs looking current: summary.json goes first (if a later
    // delete fails, nothing vouches for what is left), error.json comes last (never beside a summary.json).
    await deleteIfPresent(s3, bucket, `${prefix}summary.json`);
    await Promise.all(OUTPUT_FILES.map((file) => deleteIfPresent(s3, bucket, `${prefix}${file}`)));
    await putJson(s3, bucket, `${prefix}error.json`, report);
  }
  return report;
}

/** What the computation hands over to publishing: everything summary.json reports about the data. */
export type ComputedRates = Pick<RatesResult, 'rateColumn' | 'rows' | 'badRows' | 'badRowSamples' | 'stats' | 'inputBytes'>;

/** rates.csv, ready to appear at `key`; nothing of it is visible at `key` before `land()`. */
export interface PendingCsv {
  key: string;
  /** Puts it in place (ends the streamed upload, or copies it from scratch space); resolves once it is there. */
  land(): Promise<unknown>;
  /** Called instead of `land()` when the commit fails before it: makes sure it never appears. */
  abandon(): Promise<unknown>;
}

/** Thrown when committing the outputs failed; says what results/<name>/ holds now. The SDK's error is the cause. */
export class RatesPublishError extends InfrastructureError {
  constructor(prefix: string, cause: unknown, cleanupError?: unknown) {
    const reason = (cause as Error)?.message ?? String(cause);
    super(
      cleanupError === undefined
        ? `publishing ${prefix} failed (${reason}); the outputs of this run were removed, so it holds nothing until the retry`
        : `publishing ${prefix} failed (${reason}), and removing this run's outputs failed too (${(cleanupError as Error)?.message ?? String(cleanupError)}); ` +
            'summary.json is absent, so nothing there is current until the retry',
      { cause },
    );
    this.name = 'RatesPublishError';
  }

  override get code(): string {
    return 'PUBLISH_FAILED';
  }
}

/**
 * The end of every successful run, wherever the CSV was computed: the commit described at the top of this section.
 * The histogram is drawn while the old summary.json is deleted and `rates.csv` lands; then the SVG and PNG are put,
 * and `summary.json` last — its presence means the run finished. A failure on the way removes this run's outputs
 * and throws a RatesPublishError.
 */
export async function publishRatesResults(
  s3: S3Client,
  place: RatesRunPlace & { prefix: string; eTag: string | null; options: RateOptions },
  result: ComputedRates,
  csv: PendingCsv,
  timing: { started: number; computeMs: number },
): Promise<RatesSummary> {
  const { bucket, key, prefix, options } = place;
  let landing = false;
  try {
    const [chart] = await allSettled([
      renderHistogram({
        edges: result.stats.histogram.edges,
        counts: result.stats.histogram.counts,
        title: `Distribution of ${result.rateColumn} = ${options.numerator} / ${options.denominator}`,
        subtitle: `${key} · ${result.rows.toLocaleString('en-US')} rows · ${options.bins} bins`,
        xLabel: `${result.rateColumn} (${options.numerator} per unit of ${options.denominator})`,
        yLabel: 'rows (count)',
      }),
      (async () => {
        // From here on nothing vouches for the previous run's outputs: they are about to be replaced.
        await deleteIfPresent(s3, bucket, `${prefix}summary.json`);
        await deleteIfPresent(s3, bucket, `${prefix}error.json`);
        landing = true;
        await csv.land();
      })(),
    ] as const);
    const uploadMs = performance.now() - timing.started - timing.computeMs;
    await allSettled([
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}histogram.svg`, Body: chart.svg, ContentType: 'image/svg+xml' })),
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}histogram.png`, Body: chart.png, ContentType: 'image/png' })),
    ]);

    const { histogram, ...stats } = result.stats;
    const summary: RatesSummary = {
      status: 'ok',
      runId: place.runId,
      input: { bucket, key, bytes: result.inputBytes, eTag: place.eTag },
      options,
      rateColumn: result.rateColumn,
      rows: result.rows,
      badRows: { count: result.badRows, samples: result.badRowSamples },
      stats,
      histogram,
      outputs: {
        csv: s3Uri(bucket, csv.key),
        png: s3Uri(bucket, `${prefix}histogram.png`),
        svg: s3Uri(bucket, `${prefix}histogram.svg`),
        summary: s3Uri(bucket, `${prefix}summary.json`),
      },
      timings: { computeMs: round(timing.computeMs), uploadMs: round(uploadMs), chartMs: round(chart.ms), totalMs: 0 },
      finishedAt: '',
    };
    summary.timings.totalMs = round(performance.now() - timing.started);
    summary.finishedAt = new Date().toISOString();
    await putJson(s3, bucket, `${prefix}summary.json`, summary);
    return summary;
  } catch (error) {
    if (!landing) await csv.abandon();
    try {
      // summary.json first (its PUT may have reached S3 though the answer did not come back): once it is gone,
      // what is left is vouched for by nothing, whatever of the rest fails to go.
      await deleteIfPresent(s3, bucket, `${prefix}summary.json`);
      await Promise.all([...OUTPUT_FILES, 'error.json'].map((file) => deleteIfPresent(s3, bucket, `${prefix}${file}`)));
    } catch (cleanupError) {
      throw new RatesPublishError(prefix, error, cleanupError);
    }
    throw new RatesPublishError(prefix, error);
  }
}

/** Like Promise.all, but settles every promise before rejecting: nothing is still writing when a failure is handled. */
async function allSettled<T extends readonly unknown[]>(promises: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(promises);
  const failure = settled.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

async function putJson(s3: S3Client, bucket: string, key: string, value: unknown): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: `${JSON.stringify(value, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
}

async function deleteIfPresent(s3: S3Client, bucket: string, key: string): Promise<void> {
  // DeleteObject succeeds for a missing key, so no existence check (and no s3:ListBucket permission) is needed.
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

