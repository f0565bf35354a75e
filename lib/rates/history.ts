/**
 * The rates uploads a bucket holds and what became of each: the objects under `uploads/` with the report their run
 * left under `results/<name>/`. What a dashboard lists; it reads S3 only, as the CLI does.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { readJsonObject } from './client.ts';
import { resultPrefixFor, UPLOADS_PREFIX } from './upload-keys.ts';
import type { RatesJobOutcome } from './outcome.ts';

/** The result files a run publishes (summary.json last), and error.json when it failed. */
export const RESULT_FILES = [
  'rates.csv',
  'histogram.png',
  'histogram.svg',
  'summary.json',
  'error.json',
  // A split run's (lib/rates/parallel/timeline.ts).
  'timeline.png',
  'timeline.svg',
  'timeline.json',
] as const;
export type ResultFile = (typeof RESULT_FILES)[number];

export interface RatesUpload {
  key: string;
  bytes: number;
  uploadedAt: string;
  resultPrefix: string;
  /**
   * `running` while no report is newer than the upload (the trigger has not finished it, or it never will: an
   * upload the trigger skipped stays `running`), else the newer of summary.json and error.json.
   */
  state: 'running' | 'ok' | 'error';
  outcome: RatesJobOutcome | null;
}

/**
 * The newer of the reports under `resultPrefix` (summary.json, error.json), or null when there is neither. A file
 * uploaded again keeps the previous run's reports until the new run replaces one, so the newer one is the latest.
 */
export async function readLatestOutcome(
  s3: S3Client,
  bucket: string,
  resultPrefix: string,
): Promise<RatesJobOutcome | null> {
  const [summary, error] = (await Promise.all([
    readJsonObject(s3, bucket, `${resultPrefix}summary.json`),
    readJsonObject(s3, bucket, `${resultPrefix}error.json`),
  ])) as (RatesJobOutcome | null)[];
  if (summary == null) return error ?? null;
  if (error == null) return summary;
  return Date.parse(error.finishedAt) > Date.parse(summary.finishedAt) ? error : summary;
}

/** The latest `limit` uploads (newest first) with their outcome. */
export async function listRatesUploads(s3: S3Client, bucket: string, limit = 50): Promise<RatesUpload[]> {
  const objects: { key: string; bytes: number; uploadedAt: Date }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: UPLOADS_PREFIX, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      if (object.Key === undefined || resultPrefixFor(object.Key) === null) continue;
      objects.push({ key: object.Key, bytes: object.Size ?? 0, uploadedAt: object.LastModified ?? new Date(0) });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  objects.sort((a, b) => b.uploadedAt.getTime() - a.uploadedAt.getTime());
  return Promise.all(objects.slice(0, limit).map((object) => describeUpload(s3, bucket, object)));
}

async function describeUpload(
  s3: S3Client,
  bucket: string,
  object: { key: string; bytes: number; uploadedAt: Date },
): Promise<RatesUpload> {
  const resultPrefix = resultPrefixFor(object.key)!;
  const outcome = await readLatestOutcome(s3, bucket, resultPrefix);
  // S3 times have whole seconds: a report finished in the second of the upload is still this upload's.
  const current =
    outcome !== null && Date.parse(outcome.finishedAt) >= Math.floor(object.uploadedAt.getTime() / 1000) * 1000;
  return {
    key: object.key,
    bytes: object.bytes,
    uploadedAt: object.uploadedAt.toISOString(),
    resultPrefix,
    state: current ? outcome.status : 'running',
    outcome: current ? outcome : null,
  };
}
