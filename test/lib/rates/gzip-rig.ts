/**
 * What the gzip tests share: a local S3 server, uploads, and what a reader of results/<name>/ sees of a run, with
 * the fields that differ between `uploads/<name>.csv` and `uploads/<name>.csv.gz` (key, ETag, run id, timings and
 * the compression fields themselves) set aside so the rest can be compared whole.
 */
import { GetObjectCommand, ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { LocalS3 } from '../../support/local-s3.ts';
import type { RatesJobOutcome, RatesSummary } from '../../../lib/rates/outcome.ts';

export const BUCKET = 'gzip-rates';

export async function put(local: LocalS3, key: string, body: Buffer, metadata: Record<string, string> = {}) {
  // A fresh run id each time: the same bytes under the same key would otherwise count as already processed.
  await local.s3.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: key,
      Body: body,
      Metadata: { 'run-id': `r-${Math.random()}`, ...metadata },
    }),
  );
}

export async function read(local: LocalS3, key: string): Promise<Buffer> {
  const object = await local.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

export type Published =
  | { csv: Buffer; summary: Record<string, unknown>; compression: Record<string, unknown> }
  | { error: { code: string; message: string } };

/** results/<name>/ after `outcome`, read back from S3 (not the outcome object), with `key` written as `sameAs`. */
export async function published(
  local: LocalS3,
  name: string,
  outcome: RatesJobOutcome,
  key: string,
  sameAs: string,
): Promise<Published> {
  if (outcome.status === 'error') {
    const report = JSON.parse((await read(local, `results/${name}/error.json`)).toString());
    return { error: { code: report.error.code, message: report.error.message.replaceAll(key, sameAs) } };
  }
  const summary = JSON.parse((await read(local, `results/${name}/summary.json`)).toString()) as RatesSummary;
  const { timings: _t, finishedAt: _f, runId: _r, input, ...rest } = summary;
  const { key: _k, eTag: _e, compression, storedBytes, ...sameInput } = input;
  const extra: Record<string, unknown> = {};
  if (compression !== undefined) extra.compression = compression;
  if (storedBytes !== undefined) extra.storedBytes = storedBytes;
  return {
    csv: await read(local, `results/${name}/rates.csv`),
    summary: { ...rest, input: sameInput },
    compression: extra,
  };
}

export async function openUploads(local: LocalS3): Promise<string[]> {
  const open = await local.s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
  return (open.Uploads ?? []).map((u) => u.Key ?? '');
}
