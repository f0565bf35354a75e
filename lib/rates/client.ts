import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isNotFound } from '../aws/s3.ts';
import { uploadStoppably } from '../aws/upload.ts';
import { UserError } from '../errors.ts';
import type { RateOptions } from './options.ts';
import type { RatesSplit } from './split.ts';
import { GZIP_SUFFIX, isGzipFileName } from './gzip-input.ts';
import type { RatesJobOutcome } from './outcome.ts';
import { isCompressedUpload, METADATA, resultPrefixFor, UPLOADS_PREFIX } from './upload-keys.ts';

/**
 * The client side of the rates job: upload a file where the trigger watches, tagged with a run id and
 * the run's options as S3 user metadata, then wait for the run that carries that id to finish.
 */

export interface SubmittedRun {
  bucket: string;
  key: string;
  runId: string;
  resultPrefix: string;
}

/**
 * `counties.csv` → `uploads/counties.csv`; `report.txt` → `uploads/report.csv` (the trigger only watches `.csv` and
 * `.csv.gz`). A gzip file keeps its compression: `counties.csv.gz` (or `counties.gz`, `report.txt.GZ`) →
 * `uploads/counties.csv.gz`, which the job reads through gunzip — the object is the gzip file itself.
 */
export function uploadKeyFor(file: string): string {
  const name = path.basename(file);
  const gzip = isGzipFileName(name);
  const base = (gzip ? name.slice(0, -'.gz'.length) : name).replace(/\.[^.]*$/, '') || 'upload';
  return `${UPLOADS_PREFIX}${base.replace(/[^\w.\- ]/g, '_')}${gzip ? GZIP_SUFFIX : '.csv'}`;
}

export async function submitRatesRun(
  s3: S3Client,
  params: {
    bucket: string;
    file: string;
    key?: string;
    options?: Partial<RateOptions>;
    /** How to split the run (checked by the caller with split.ts's rules; the job checks them again). */
    split?: RatesSplit;
  },
  /** Stops the upload: the promise rejects with its reason once the multipart upload is aborted. */
  signal?: AbortSignal,
): Promise<SubmittedRun> {
  const key = params.key ?? uploadKeyFor(params.file);
  const resultPrefix = resultPrefixFor(key);
  if (resultPrefix === null)
    throw new Error(
      `"${key}" is not an upload key (${UPLOADS_PREFIX}<name>.csv or ${UPLOADS_PREFIX}<name>${GZIP_SUFFIX})`,
    );
  const runId = randomUUID();
  const metadata: Record<string, string> = { [METADATA.runId]: runId };
  const { numerator, denominator, bins } = params.options ?? {};
  if (numerator !== undefined) metadata[METADATA.numerator] = numerator;
  if (denominator !== undefined) metadata[METADATA.denominator] = denominator;
  if (bins !== undefined) metadata[METADATA.bins] = String(bins);
  const { workers, chunkBytes } = params.split ?? {};
  if (workers !== undefined) metadata[METADATA.workers] = String(workers);
  if (chunkBytes !== undefined) metadata[METADATA.chunkBytes] = String(chunkBytes);
  await uploadStoppably(
    s3,
    {
      Bucket: params.bucket,
      Key: key,
      Body: createReadStream(params.file),
      // The object is the .gz file as it is (no Content-Encoding: a reader must get the gzip bytes, not have an HTTP
      // stack decompress them on the way).
      ContentType: isCompressedUpload(key) ? 'application/gzip' : 'text/csv',
      Metadata: metadata,
    },
    signal,
  );
  return { bucket: params.bucket, key, runId, resultPrefix };
}

/** One JSON object of a run's reports, or null when it is not there (yet). */
export async function readJsonObject(s3: S3Client, bucket: string, key: string): Promise<unknown | null> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return JSON.parse(await (object.Body as Readable & { transformToString(): Promise<string> }).transformToString());
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

export class RunTimeoutError extends UserError {
  constructor(message: string) {
    super('TIMEOUT', message);
  }
}

/**
 * The run's outcome if it has finished, else null: one look at summary.json and error.json (a dashboard polls with
 * it; waitForRatesOutcome loops on it). Earlier runs of the same file leave their own reports there, so the run id —
 * not the file's presence — decides.
 */
export async function checkRatesOutcome(
  s3: S3Client,
  run: Pick<SubmittedRun, 'bucket' | 'resultPrefix' | 'runId'>,
): Promise<RatesJobOutcome | null> {
  for (const file of ['summary.json', 'error.json']) {
    const report = (await readJsonObject(s3, run.bucket, `${run.resultPrefix}${file}`)) as RatesJobOutcome | null;
    if (report?.runId === run.runId) return report;
  }
  return null;
}

/**
 * Polls the run's result prefix until `summary.json` or `error.json` names this run. Earlier runs of the
 * same file leave their own reports there, so the run id — not the file's presence — decides.
 */
export async function waitForRatesOutcome(
  s3: S3Client,
  run: SubmittedRun,
  options: {
    timeoutMs?: number;
    pollMs?: number;
    /** Called on every poll; throw from it to stop waiting (e.g. the function's host has died). */
    onWait?: (elapsedMs: number) => void;
  } = {},
): Promise<RatesJobOutcome> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 300_000;
  for (;;) {
    const outcome = await checkRatesOutcome(s3, run);
    if (outcome !== null) return outcome;
    const elapsed = Date.now() - started;
    if (elapsed > timeoutMs) {
      throw new RunTimeoutError(
        `No result for s3://${run.bucket}/${run.key} after ${Math.round(elapsed / 1000)}s. ` +
          'Check the function log (.local-stack/logs/lambda.log) or raise --timeout.',
      );
    }
    options.onWait?.(elapsed);
    await sleep(options.pollMs ?? 100);
  }
}
