/**
 * Committing a run's outputs to results/<name>/ (or its error.json), for the Lambda path (job.ts) and the EC2
 * path (ec2.ts) alike.
 */
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { InfrastructureError } from '../errors.ts';
import { s3Uri } from '../aws/s3.ts';
import { type HistogramChartInput, renderHistogram } from './chart.ts';
import type { RatesResult } from './csv-rates.ts';
import type { RateOptions } from './options.ts';
import type { CompressedInput, JobErrorCode, ParallelSummary, RatesErrorReport, RatesSummary } from './outcome.ts';

/** The outputs summary.json vouches for (see "What results/<name>/ holds" below). */
const OUTPUT_FILES = ['rates.csv', 'histogram.png', 'histogram.svg'] as const;
/** A split run's timeline (lib/rates/parallel/timeline.ts): in a set only when its summary.json lists it. */
const TIMELINE_FILES = ['timeline.json', 'timeline.svg', 'timeline.png'] as const;

/*
 * WHAT results/<name>/ HOLDS, WHATEVER FAILS
 *
 * S3 has no transaction over several objects, so the outputs cannot all change at once. Instead summary.json is the
 * commit marker, written last, and the job keeps these rules:
 *
 *   1. summary.json present ⇒ rates.csv, histogram.png and histogram.svg are there and were written by the run it
 *      describes (its input ETag, options and run id); so are timeline.json, .svg and .png when it lists them
 *      (`outputs.timeline`: a split run's), and when it does not, they are not there at all — never an older
 *      split run's timeline beside a single run's set. A reader trusts the outputs only through summary.json.
 *   2. error.json and summary.json are never both there.
 *   3. After a run that fails (throws: an S3 error, a cut download, ...), results/<name>/ holds the previous run's
 *      complete set untouched, or nothing — never this run's outputs next to the previous run's, never rates.csv
 *      without its summary.json. Lambda's retry then writes the complete new set.
 *
 * How: nothing of this run is visible until everything is computed — rates.csv streams up as the input is read,
 * but S3 shows it only when its single PutObject or its CompleteMultipartUpload is sent, and that happens only
 * once the whole file was read and the statistics are done (a failure before that aborts the upload and leaves
 * the previous set as it was). Then the commit: delete summary.json (and error.json) first, so from that moment
 * nothing vouches for the old outputs, and — for a run without a timeline — an older run's timeline files; land
 * rates.csv; put the histograms (and this run's timeline files, which replace an older run's); put summary.json.
 * If any step of the commit fails, this run removes what it may have written — summary.json first, then the other
 * outputs, timeline files included — before rethrowing, so results/<name>/ is empty until the retry.
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

/** Where a run's report goes, and which run it is. */
export interface RatesRunPlace {
  bucket: string;
  /** The input object's key, as reported in summary.json / error.json. */
  key: string;
  /** `results/<name>/`, or null when the key gives no place to write (not an upload). */
  prefix: string | null;
  runId: string | null;
}

/** What a run adds to its summary about its input beyond the place: a compressed upload's fields (outcome.ts). */
export interface InputNotes {
  compression?: CompressedInput;
  singleWorkerReason?: string;
}

/**
 * Writes `error.json` for a run that failed on its input, and removes an older run's outputs so they do not
 * look current. Shared by the Lambda path and the EC2 path (lib/rates/ec2.ts).
 */
export async function writeRatesError(
  s3: S3Client,
  place: RatesRunPlace,
  code: JobErrorCode,
  message: string,
): Promise<RatesErrorReport> {
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
    await Promise.all(
      [...OUTPUT_FILES, ...TIMELINE_FILES].map((file) => deleteIfPresent(s3, bucket, `${prefix}${file}`)),
    );
    await putJson(s3, bucket, `${prefix}error.json`, report);
  }
  return report;
}

/** What the computation hands over to publishing: everything summary.json reports about the data. */
export type ComputedRates = Pick<
  RatesResult,
  'rateColumn' | 'rows' | 'badRows' | 'badRowSamples' | 'stats' | 'inputBytes'
>;

/** rates.csv, ready to appear at `key`; nothing of it is visible at `key` before `land()`. */
export interface PendingCsv {
  key: string;
  /** Puts it in place (ends the streamed upload, or copies it from scratch space); resolves once it is there. */
  land(): Promise<unknown>;
  /** Called instead of `land()` when the commit fails before it: makes sure it never appears. */
  abandon(): Promise<unknown>;
}

/** A split run's timeline as it is put: timeline.json and its chart (lib/rates/parallel/timeline.ts draws them). */
export interface TimelineFiles {
  json: string;
  svg: string;
  png: Buffer;
}

/** What a split run adds to the commit: summary.json's `parallel` section, and its timeline, drawn during the commit. */
export interface SplitRunNotes {
  summary: ParallelSummary;
  timeline: () => Promise<TimelineFiles>;
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
 * The S3 steps start first and the histogram (and a split run's timeline) is drawn while they are in flight: the old
 * summary.json and error.json are deleted, then an older run's timeline (only once no summary.json can list it),
 * then `rates.csv` lands while the SVG and PNG are put (and the timeline files) — nothing vouches for any of them
 * until `summary.json`, put last: its presence means the run finished. A failure on the way removes this run's
 * outputs and throws a RatesPublishError.
 */
export async function publishRatesResults(
  s3: S3Client,
  place: RatesRunPlace & { prefix: string; eTag: string | null; options: RateOptions } & InputNotes,
  result: ComputedRates,
  csv: PendingCsv,
  timing: { started: number; computeMs: number },
  split?: SplitRunNotes,
): Promise<RatesSummary> {
  const { bucket, prefix, options } = place;
  let landing = false;
  try {
    // From the first delete on nothing vouches for the previous run's outputs: they are about to be replaced.
    const cleared = clearPrevious(s3, bucket, prefix, split === undefined);
    const landed = cleared.then(() => {
      landing = true;
      return csv.land();
    });
    landed.catch(() => undefined); // settled below, with the others
    // The requests above are sent once this turn of the event loop ends; the chart's CPU work runs while S3 answers.
    await new Promise((resolve) => setImmediate(resolve));
    const drawing = allSettled([
      renderHistogram(histogramInput(result, options, place.key)),
      split?.timeline() ?? Promise.resolve(null),
    ] as const);
    const puts = Promise.all([drawing, cleared]).then(([[chart, timeline]]) =>
      allSettled([
        putObject(s3, bucket, `${prefix}histogram.svg`, chart.svg, 'image/svg+xml'),
        putObject(s3, bucket, `${prefix}histogram.png`, chart.png, 'image/png'),
        ...(timeline === null ? [] : putTimeline(s3, bucket, prefix, timeline)),
      ]),
    );
    const [[chart]] = await allSettled([drawing, landed, puts, cleared] as const);
    const uploadMs = performance.now() - timing.started - timing.computeMs;

    const summary = summaryOf(place, result, csv.key, timing, uploadMs, chart.ms);
    if (split !== undefined) {
      summary.outputs.timeline = timelineOutputs(bucket, prefix);
      summary.parallel = split.summary;
    }
    if (place.singleWorkerReason !== undefined) summary.singleWorkerReason = place.singleWorkerReason;
    await putJson(s3, bucket, `${prefix}summary.json`, summary);
    return summary;
  } catch (error) {
    if (!landing) await csv.abandon();
    try {
      // summary.json first (its PUT may have reached S3 though the answer did not come back): once it is gone,
      // what is left is vouched for by nothing, whatever of the rest fails to go.
      await deleteIfPresent(s3, bucket, `${prefix}summary.json`);
      await Promise.all(
        [...OUTPUT_FILES, ...TIMELINE_FILES, 'error.json'].map((file) =>
          deleteIfPresent(s3, bucket, `${prefix}${file}`),
        ),
      );
    } catch (cleanupError) {
      throw new RatesPublishError(prefix, error, cleanupError);
    }
    throw new RatesPublishError(prefix, error);
  }
}

/** The histogram of a run's rates as results/<name>/ shows it (also drawn once at container start: chart-warmup.ts). */
export function histogramInput(
  result: Pick<ComputedRates, 'rateColumn' | 'rows'> & { stats: { histogram: { edges: number[]; counts: number[] } } },
  options: RateOptions,
  key: string,
): HistogramChartInput {
  return {
    edges: result.stats.histogram.edges,
    counts: result.stats.histogram.counts,
    title: `Distribution of ${result.rateColumn} = ${options.numerator} / ${options.denominator}`,
    subtitle: `${key} · ${result.rows.toLocaleString('en-US')} rows · ${options.bins} bins`,
    xLabel: `${result.rateColumn} (${options.numerator} per unit of ${options.denominator})`,
    yLabel: 'rows (count)',
  };
}

/**
 * Removes what vouches for the previous run's outputs (summary.json; error.json may go at the same moment, as the two
 * are never both there) and then — for a run without a timeline (`staleTimeline`) — an older split run's timeline
 * files, which only an already deleted summary.json could have listed.
 */
async function clearPrevious(s3: S3Client, bucket: string, prefix: string, staleTimeline: boolean): Promise<void> {
  await allSettled([
    deleteIfPresent(s3, bucket, `${prefix}summary.json`),
    deleteIfPresent(s3, bucket, `${prefix}error.json`),
  ]);
  if (staleTimeline) await allSettled(TIMELINE_FILES.map((file) => deleteIfPresent(s3, bucket, `${prefix}${file}`)));
}

function putTimeline(s3: S3Client, bucket: string, prefix: string, files: TimelineFiles): Promise<unknown>[] {
  const put = (name: (typeof TIMELINE_FILES)[number], body: string | Buffer, contentType: string) =>
    putObject(s3, bucket, `${prefix}${name}`, body, contentType);
  return [
    put('timeline.json', files.json, 'application/json'),
    put('timeline.svg', files.svg, 'image/svg+xml'),
    put('timeline.png', files.png, 'image/png'),
  ];
}

function timelineOutputs(bucket: string, prefix: string): NonNullable<RatesSummary['outputs']['timeline']> {
  return {
    json: s3Uri(bucket, `${prefix}timeline.json`),
    svg: s3Uri(bucket, `${prefix}timeline.svg`),
    png: s3Uri(bucket, `${prefix}timeline.png`),
  };
}

/** summary.json of a run whose outputs are all in place; its total time and finishing time are taken now. */
function summaryOf(
  place: RatesRunPlace & { prefix: string; eTag: string | null; options: RateOptions } & InputNotes,
  result: ComputedRates,
  csvKey: string,
  timing: { started: number; computeMs: number },
  uploadMs: number,
  chartMs: number,
): RatesSummary {
  const { bucket, key, prefix, options } = place;
  const { histogram, ...stats } = result.stats;
  const summary: RatesSummary = {
    status: 'ok',
    runId: place.runId,
    input: { bucket, key, bytes: result.inputBytes, eTag: place.eTag, ...place.compression },
    options,
    rateColumn: result.rateColumn,
    rows: result.rows,
    badRows: { count: result.badRows, samples: result.badRowSamples },
    stats,
    histogram,
    outputs: {
      csv: s3Uri(bucket, csvKey),
      png: s3Uri(bucket, `${prefix}histogram.png`),
      svg: s3Uri(bucket, `${prefix}histogram.svg`),
      summary: s3Uri(bucket, `${prefix}summary.json`),
    },
    timings: { computeMs: round(timing.computeMs), uploadMs: round(uploadMs), chartMs: round(chartMs), totalMs: 0 },
    finishedAt: '',
  };
  summary.timings.totalMs = round(performance.now() - timing.started);
  summary.finishedAt = new Date().toISOString();
  return summary;
}

/** Like Promise.all, but settles every promise before rejecting: nothing is still writing when a failure is handled. */
async function allSettled<T extends readonly unknown[]>(
  promises: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(promises);
  const failure = settled.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}

function putObject(s3: S3Client, bucket: string, key: string, body: string | Buffer, contentType: string) {
  return s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
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
