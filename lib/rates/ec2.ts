import { createReadStream } from 'node:fs';
import {
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { z } from 'zod';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { isNotFound } from '../aws/s3.ts';
import { uploadStoppably } from '../aws/upload.ts';
import type { Ec2Config } from '../config.ts';
import { UserError } from '../errors.ts';
import { fanout } from '../fanout/index.ts';
import { defaultPresignSeconds } from '../fanout/ec2/backend.ts';
import { ec2RunSettings, newRunId, withEc2Run, type Ec2RunHooks, type Ec2RunReport } from '../fanout/ec2/run.ts';
import type { RateOptions } from './options.ts';
import type { RatesEc2Result, RatesEc2Task } from './ec2-worker.ts';
import { publishRatesResults, writeRatesError, type RatesJobOutcome } from './job.ts';
import { isCompressedUpload, resultPrefixFor, UPLOADS_PREFIX } from './upload-keys.ts';
import { uploadKeyFor } from './client.ts';
import type { RatesErrorReport, RatesSummary } from './outcome.ts';
import type { ParallelProgress } from './parallel/coordinator.ts';
import { ec2ParallelSetup } from './parallel/ec2-tasks.ts';
import { chooseSplit } from './parallel/choose.ts';
import { runParallelRates } from './parallel/run.ts';
import type { RatesSplit } from './split.ts';

/**
 * The rates job on an EC2 instance, for a file too big or too slow for a Lambda (15 minutes at most). The input
 * is staged under `inputs/` — not `uploads/`, which would also trigger the Lambda — and one instance streams it
 * (lib/rates/ec2-worker.ts). Its CSV lands in the run's scratch space and is copied into `results/<name>/`; the
 * chart and summary.json are made here, by the same code as on Lambda, so both paths give the same outputs.
 *
 * Limits: one instance per file (CSV parsing is sequential); the output CSV goes up in one PUT, so at most 5 GB.
 */

export const INPUTS_PREFIX = 'inputs/';

export interface StagedInput {
  bucket: string;
  key: string;
  resultPrefix: string;
}

/**
 * Uploads a local CSV to `inputs/<name>.csv`; its results go to `results/<name>/`, as for `uploads/<name>.csv`.
 * `signal` stops the upload: the promise rejects with its reason once the multipart upload is aborted.
 */
export async function stageRatesInput(
  s3: S3Client,
  params: { bucket: string; file: string },
  signal?: AbortSignal,
): Promise<StagedInput> {
  const uploadKey = uploadKeyFor(params.file);
  // The instance streams plain CSV only (the CLI refuses a .gz file for --backend ec2 before this).
  if (isCompressedUpload(uploadKey)) {
    throw new UserError('INVALID_ARGUMENT', `${params.file} is gzip-compressed: gunzip it first for the EC2 backend`);
  }
  const resultPrefix = resultPrefixFor(uploadKey);
  if (resultPrefix === null) throw new Error(`no result prefix for ${params.file}`);
  const key = `${INPUTS_PREFIX}${uploadKey.slice(UPLOADS_PREFIX.length)}`;
  await uploadStoppably(
    s3,
    { Bucket: params.bucket, Key: key, Body: createReadStream(params.file), ContentType: 'text/csv' },
    signal,
  );
  return { bucket: params.bucket, key, resultPrefix };
}

const workerResultSchema = z.looseObject({ status: z.enum(['ok', 'error']) });

export type RatesEc2Report = Omit<Ec2RunReport<RatesJobOutcome>, 'value'> & { outcome: RatesJobOutcome };

export async function runRatesOnEc2(
  clients: { ec2: EC2Client; s3: S3Client; ssm?: SSMClient },
  config: Ec2Config,
  input: StagedInput & { options: RateOptions },
  hooks: Ec2RunHooks = {},
): Promise<RatesEc2Report> {
  const { s3 } = clients;
  const { bucket, key, resultPrefix, options } = input;
  // The input and output URLs live as long as the instance's own (worker bundle, result).
  const presignSeconds = defaultPresignSeconds(config.deadlineMs);
  const report = await withEc2Run<RatesEc2Task, RatesEc2Result, RatesJobOutcome>(
    {
      worker: 'rates',
      ...clients,
      ...ec2RunSettings(config, hooks),
      presignSeconds,
      parse: (value) => workerResultSchema.parse(value) as RatesEc2Result,
    },
    async (backend, run) => {
      const started = performance.now();
      const place = { bucket, key, prefix: resultPrefix, runId: run.runId };
      let eTag: string | null;
      try {
        const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        eTag = head.ETag?.replaceAll('"', '') ?? null;
      } catch (error) {
        if (isNotFound(error))
          return writeRatesError(s3, place, 'OBJECT_NOT_FOUND', `s3://${bucket}/${key} does not exist.`);
        throw error;
      }
      const stagingKey = `${run.prefix}rates.csv`;
      const [inputUrl, outputUrl] = await Promise.all([
        getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: presignSeconds }),
        getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: stagingKey }), { expiresIn: presignSeconds }),
      ]);
      const [outcome] = (
        await fanout([{ inputUrl, outputUrl, options }], backend, {
          retries: 1,
          ...(hooks.signal ? { signal: hooks.signal } : {}),
        })
      ).outcomes;
      if (!outcome!.ok) {
        throw new UserError(
          'EC2_RUN_FAILED',
          `the rates run on EC2 did not finish: ${outcome!.error.type}: ${outcome!.error.message}`,
        );
      }
      const result = outcome!.value;
      if (result.status === 'error') return writeRatesError(s3, place, result.code, result.message);
      const csvKey = `${resultPrefix}rates.csv`;
      // rates.csv waits in the run's scratch space until the commit copies it into place (the staging copy goes
      // with runs/<runId>/ whatever happens).
      const land = () =>
        s3.send(
          new CopyObjectCommand({
            Bucket: bucket,
            Key: csvKey,
            CopySource: `${bucket}/${stagingKey}`,
            ContentType: 'text/csv; charset=utf-8',
            MetadataDirective: 'REPLACE',
          }),
        );
      const abandon = async () => undefined;
      // computeMs here runs from the launch to the instance's report: on EC2 it includes the instance's start.
      return publishRatesResults(
        s3,
        { ...place, eTag, options },
        result,
        { key: csvKey, land, abandon },
        { started, computeMs: performance.now() - started },
      );
    },
  );
  const { value, ...rest } = report;
  return { ...rest, outcome: value };
}

/**
 * The rates job split into chunks that run on EC2 instances (lib/rates/parallel/ec2-tasks.ts): this process
 * coordinates — reads the header, plans the chunks, merges, runs the statistics rounds, assembles rates.csv from
 * the chunks' outputs — and the instances parse and answer with presigned URLs. It publishes to `results/<name>/`
 * as the Lambda path does; summary.json's `parallel.cost` is the instances'. `split` must split (not `workers: 1`).
 */
export async function runSplitRatesOnEc2(
  clients: { ec2: EC2Client; s3: S3Client; ssm?: SSMClient },
  config: Ec2Config,
  input: StagedInput & {
    options: RateOptions;
    split: RatesSplit;
    chunking: { aboveBytes: number; chunkBytes: number };
  },
  hooks: Ec2RunHooks & { onProgress?: (progress: ParallelProgress) => void } = {},
): Promise<RatesSummary | RatesErrorReport> {
  const { s3 } = clients;
  const { bucket, key, resultPrefix, options } = input;
  const { onProgress, ...runHooks } = hooks;
  // One id for the EC2 run and the summary: the instances are tagged with it, the scratch objects live under it.
  const runId = runHooks.runId ?? newRunId();
  const place = { bucket, key, prefix: resultPrefix, runId };
  let eTag: string | undefined;
  let size: number | undefined;
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    eTag = head.ETag?.replaceAll('"', '');
    size = head.ContentLength;
  } catch (error) {
    if (isNotFound(error))
      return writeRatesError(s3, place, 'OBJECT_NOT_FOUND', `s3://${bucket}/${key} does not exist.`);
    throw error;
  }
  if (eTag === undefined || size === undefined) {
    throw new Error(`S3 gave no size or ETag for s3://${bucket}/${key}, which splitting it by byte range needs`);
  }
  const split = chooseSplit(input.split, size, input.chunking);
  if (split === null) throw new TypeError('runSplitRatesOnEc2: the split asked for does not split (workers: 1)');
  const setup = ec2ParallelSetup(
    clients,
    config,
    { ...input.chunking, ...(onProgress === undefined ? {} : { onProgress }) },
    { ...runHooks, runId },
  );
  return runParallelRates(s3, { place, source: { bucket, key, eTag, size }, options, split }, setup, runHooks.signal);
}
