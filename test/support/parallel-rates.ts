/**
 * The rig of the split-run suites: worker threads of the local fan-out backend standing in for rates-worker
 * Lambdas, against a local S3 server (their S3 client comes from the environment: clients.ts stubS3Env).
 */
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { RatesJobOutcome, RatesSummary } from '../../lib/rates/outcome.ts';
import type { ParallelSetup } from '../../lib/rates/parallel/run.ts';

const REAL_WORKER = {
  module: new URL('../../lib/rates/parallel/worker.ts', import.meta.url),
  exportName: 'runRatesWorkerTask',
};

/** A deployment with workers: two threads running `worker` (default the real one), splitting as `split` says. */
export function localParallelSetup(
  split: Pick<ParallelSetup, 'aboveBytes' | 'chunkBytes'>,
  worker: { module: URL; exportName: string } = REAL_WORKER,
): ParallelSetup {
  return { ...split, backend: { name: 'local', ...worker, threads: 2 } };
}

/** What a split run may leave behind and must not: scratch objects under runs/ and open multipart uploads. */
export async function leftovers(s3: S3Client, bucket: string): Promise<{ scratch: string[]; uploads: string[] }> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'runs/' }));
  const open = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return {
    scratch: (listed.Contents ?? []).map((o) => o.Key ?? ''),
    uploads: (open.Uploads ?? []).map((u) => u.Key ?? ''),
  };
}

export async function objectBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

/** What a reader of results/<name>/ sees: rates.csv and summary.json (or error.json), minus what differs by run. */
export type Published =
  | { csv: Buffer; summary: Omit<RatesSummary, 'timings' | 'finishedAt' | 'parallel'> }
  | { error: object };

export async function published(
  s3: S3Client,
  bucket: string,
  name: string,
  outcome: RatesJobOutcome,
): Promise<Published> {
  const read = async (file: string) => objectBytes(s3, bucket, `results/${name}/${file}`);
  if (outcome.status === 'error') {
    const { finishedAt: _f, ...report } = JSON.parse((await read('error.json')).toString());
    return { error: report };
  }
  const {
    timings: _t,
    finishedAt: _f,
    parallel: _p,
    ...summary
  } = JSON.parse((await read('summary.json')).toString()) as RatesSummary;
  return { csv: await read('rates.csv'), summary };
}
