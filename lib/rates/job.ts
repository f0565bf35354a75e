import { PassThrough, type Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { z } from 'zod';
import { binCount, columnName, type RatesDefaults } from '../config.ts';
import { isNotFound, s3Uri } from '../aws/s3.ts';
import { keyPreview } from '../aws/s3-event.ts';
import { computeRates, type BadRow, type RateOptions, type RatesResult } from './csv-rates.ts';
import { RatesFileError, type RatesErrorCode } from './errors.ts';
import { renderHistogram } from './chart.ts';

/** Uploads live here; only objects under it trigger the job. Results go elsewhere so a run never re-triggers itself. */
export const UPLOADS_PREFIX = 'uploads/';
export const RESULTS_PREFIX = 'results/';
const RESULT_FILES = ['rates.csv', 'histogram.png', 'histogram.svg', 'summary.json'] as const;

/** S3 user metadata (x-amz-meta-*) that a client may set on an upload to choose this run's options. */
export const METADATA = { numerator: 'numerator', denominator: 'denominator', bins: 'bins', runId: 'run-id' } as const;

export type JobErrorCode = RatesErrorCode | 'NOT_AN_UPLOAD' | 'OBJECT_NOT_FOUND' | 'INTERNAL';

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

export type RatesJobOutcome = RatesSummary | RatesErrorReport;

/** Thrown for inputs the job rejects on purpose; anything else is an infrastructure failure. */
class JobInputError extends Error {
  constructor(
    readonly code: JobErrorCode,
    message: string,
  ) {
    super(message);
  }
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

const optionsSchema = z.object({
  numerator: columnName,
  denominator: columnName,
  bins: binCount,
});

/** Merges invocation options over object metadata over deployment defaults, and validates the result. */
export function resolveOptions(
  defaults: RatesDefaults,
  metadata: Record<string, string> | undefined,
  invocation: Partial<RateOptions> | undefined,
): RateOptions {
  const pick = (name: keyof RateOptions, metadataKey: string) =>
    invocation?.[name] ?? metadata?.[metadataKey] ?? defaults[name];
  const parsed = optionsSchema.safeParse({
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
 * Runs the rates job on one uploaded object: stream it, add the rate column, upload `rates.csv` as it
 * is produced, then the histogram and finally `summary.json` (written last, so its presence means the
 * run finished). A bad file yields `error.json` and an error outcome, and no partial results: the
 * streamed upload is aborted before it completes. Infrastructure failures (S3 unavailable, ...) are
 * thrown so the caller — Lambda's async retry — can try again.
 */
export async function runRatesJob(s3: S3Client, input: RatesJobInput, defaults: RatesDefaults): Promise<RatesJobOutcome> {
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

  let options: RateOptions;
  try {
    options = resolveOptions(defaults, object.Metadata, input.options);
  } catch (error) {
    body.destroy();
    if (error instanceof JobInputError) return fail(error.code, error.message);
    throw error;
  }

  const csvKey = `${prefix}rates.csv`;
  const csvStream = new PassThrough({ highWaterMark: 1 << 20 });
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: csvKey, Body: csvStream, ContentType: 'text/csv; charset=utf-8' },
    queueSize: 4,
    partSize: 5 * 1024 * 1024,
    leavePartsOnError: false,
  });
  const uploadDone = upload.done();
  // Observed below; this keeps an early upload failure from surfacing as an unhandled rejection.
  uploadDone.catch(() => undefined);

  let result;
  try {
    result = await computeRates(body, csvStream, options);
  } catch (error) {
    body.destroy();
    await upload.abort();
    csvStream.destroy();
    await uploadDone.catch(() => undefined);
    if (error instanceof RatesFileError) return fail(error.code, error.message);
    throw error;
  }
  const computeMs = performance.now() - started;
  csvStream.end();
  return publishRatesResults(
    s3,
    { bucket, key, prefix, runId, eTag: object.ETag?.replaceAll('"', '') ?? null, options },
    result,
    { key: csvKey, done: uploadDone },
    { started, computeMs },
  );
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
    await putJson(s3, bucket, `${prefix}error.json`, report);
    // A failed re-run must not leave an older run's outputs looking current.
    await Promise.all(RESULT_FILES.map((file) => deleteIfPresent(s3, bucket, `${prefix}${file}`)));
  }
  return report;
}

/** What the computation hands over to publishing: everything summary.json reports about the data. */
export type ComputedRates = Pick<RatesResult, 'rateColumn' | 'rows' | 'badRows' | 'badRowSamples' | 'stats' | 'inputBytes'>;

/**
 * The end of every successful run, wherever the CSV was computed: draw the histogram while `rates.csv` finishes
 * arriving at `csv.key` (`csv.done`), write the SVG and PNG, then `summary.json` last — its presence means the
 * run finished.
 */
export async function publishRatesResults(
  s3: S3Client,
  place: RatesRunPlace & { prefix: string; eTag: string | null; options: RateOptions },
  result: ComputedRates,
  csv: { key: string; done: Promise<unknown> },
  timing: { started: number; computeMs: number },
): Promise<RatesSummary> {
  const { bucket, key, prefix, options } = place;
  const [chart] = await Promise.all([
    renderHistogram({
      edges: result.stats.histogram.edges,
      counts: result.stats.histogram.counts,
      title: `Distribution of ${result.rateColumn} = ${options.numerator} / ${options.denominator}`,
      subtitle: `${key} · ${result.rows.toLocaleString('en-US')} rows · ${options.bins} bins`,
      xLabel: `${result.rateColumn} (${options.numerator} per unit of ${options.denominator})`,
      yLabel: 'rows (count)',
    }),
    csv.done,
  ]);
  const uploadMs = performance.now() - timing.started - timing.computeMs;
  await Promise.all([
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
  await deleteIfPresent(s3, bucket, `${prefix}error.json`);
  summary.timings.totalMs = round(performance.now() - timing.started);
  summary.finishedAt = new Date().toISOString();
  await putJson(s3, bucket, `${prefix}summary.json`, summary);
  return summary;
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
