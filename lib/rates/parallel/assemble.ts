/**
 * rates.csv's multipart upload, from its opening (before any chunk is parsed: the workers upload parts into it) to
 * the PendingCsv publish.ts commits: the runs of scratch objects between the chunks' own parts become parts as
 * assemble-plan.ts says (concat-parts.ts sends them), and `land()` completes the upload with every part's ETag.
 * Any failure aborts the upload once no request is in flight, so no part arrives after the abort.
 */
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import PQueue from 'p-queue';
import { ConcatError, describeFailure } from '../../aws/concat-errors.ts';
import { runParts, type Source } from '../../aws/concat-parts.ts';
import { emptyObject, OpenUpload } from '../../aws/concat.ts';
import { s3Uri } from '../../aws/s3.ts';
import type { PendingCsv } from '../publish.ts';
import type { AssemblyFigures } from '../outcome.ts';
import { type AssemblyStep, assemblyFigures, planAssembly } from './assemble-plan.ts';
import type { UploadedPart } from './tasks.ts';

const CSV_TYPE = 'text/csv; charset=utf-8';
/**
 * Runs assembled at once, and requests per run: most runs are one server-side copy of what a chunk held back
 * (5–13 MiB), which S3 takes ~1 s to copy, so they all go at once up to the S3 client's 128 sockets (lib/aws/s3.ts).
 */
export const RUNS_AT_ONCE = 64;
const REQUESTS_PER_RUN = 2;

export interface CsvUpload {
  bucket: string;
  key: string;
  uploadId: string;
  /** Aborts it (idempotent); the run's failure paths call it. */
  abort(): Promise<void>;
}

export interface OpenedCsvUpload extends CsvUpload {
  open: OpenUpload;
}

export async function openCsvUpload(s3: S3Client, bucket: string, key: string): Promise<OpenedCsvUpload> {
  const answer = await s3
    .send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: CSV_TYPE }))
    .catch((error: unknown) => {
      throw new ConcatError(`could not start the multipart upload of ${s3Uri(bucket, key)}: ${describeFailure(error)}`);
    });
  if (answer.UploadId === undefined) throw new ConcatError(`S3 started ${s3Uri(bucket, key)} without an UploadId`);
  const open = new OpenUpload(s3, { bucket, key }, answer.UploadId);
  return { bucket, key, uploadId: answer.UploadId, open, abort: () => open.abort() };
}

/** What a verified chunk left for rates.csv. */
export interface ChunkOutput {
  parts: readonly UploadedPart[];
  /** Its scratch object: the rest of its output. */
  csv: { key: string; bytes: number; eTag: string };
  /** The first part number reserved for it (grants.ts). */
  firstSlot: number;
}

/**
 * rates.csv ready to appear. When tiny outputs at the start cannot make a 5 MiB part before a chunk's own parts
 * (assemble-plan.ts), `rerunWithoutParts` parses those chunks again without a grant, and the plan is made again:
 * rare, and each round turns at least one chunk's parts into a scratch object, so there are at most as many rounds
 * as chunks.
 */
export async function finishCsv(
  s3: S3Client,
  upload: OpenedCsvUpload,
  outputs: () => ChunkOutput[],
  signal: AbortSignal | undefined,
  rerunWithoutParts: (chunks: number[]) => Promise<void>,
): Promise<{ csv: PendingCsv; assembly: AssemblyFigures }> {
  let rerunsWithoutParts = 0;
  for (let round = 0; ; round++) {
    const chunks = outputs();
    const planned = planAssembly(
      chunks.map((c) => ({ parts: c.parts, scratchBytes: c.csv.bytes, firstSlot: c.firstSlot })),
    );
    if (planned.ok) {
      const sources = chunks.map((c) => ({
        bucket: upload.bucket,
        key: c.csv.key,
        size: c.csv.bytes,
        eTag: c.csv.eTag,
      }));
      const csv = await assembleCsv(s3, upload, planned.steps, sources, signal);
      return { csv, assembly: { ...assemblyFigures(planned.steps), rerunsWithoutParts } };
    }
    if (round >= chunks.length) throw new Error(`internal: rates.csv still cannot be assembled after ${round} rounds`);
    rerunsWithoutParts += planned.withoutParts.length;
    await rerunWithoutParts(planned.withoutParts);
  }
}

interface NumberedPart {
  PartNumber: number;
  ETag: string;
}

/**
 * Sends the runs' parts; resolves with rates.csv ready to appear. `sources[i]` is chunk i's scratch object.
 * Rejects (the upload aborted) with the first failure, after every request in flight has landed.
 */
async function assembleCsv(
  s3: S3Client,
  upload: OpenedCsvUpload,
  steps: readonly AssemblyStep[],
  sources: readonly Source[],
  signal?: AbortSignal,
): Promise<PendingCsv> {
  const parts: NumberedPart[] = [];
  const queue = new PQueue({ concurrency: RUNS_AT_ONCE });
  let failure: { error: unknown } | null = null;
  const runs = steps.map(async (step) => {
    if (step.kind === 'placed') {
      parts.push({ PartNumber: step.part.partNumber, ETag: step.part.eTag });
      return;
    }
    await queue.add(async () => {
      if (failure !== null) return;
      const target = {
        bucket: upload.bucket,
        key: upload.key,
        uploadId: upload.uploadId,
        concurrency: REQUESTS_PER_RUN,
        firstPartNumber: step.firstPartNumber,
      };
      const runSources = step.chunks.map((index) => sources[index] as Source);
      try {
        const eTags = await runParts(s3, target, runSources, step.plan.parts, signal);
        for (const [k, ETag] of eTags.entries()) parts.push({ PartNumber: step.firstPartNumber + k, ETag });
      } catch (error) {
        failure ??= { error };
      }
    });
  });
  await Promise.all(runs);
  if (failure !== null)
    throw await upload.open.abortAfter(named(upload, (failure as { error: unknown }).error), signal);
  parts.sort((a, b) => a.PartNumber - b.PartNumber);
  return { key: upload.key, land: () => land(s3, upload, parts), abandon: () => upload.abort() };
}

function named(upload: CsvUpload, error: unknown): unknown {
  const target = s3Uri(upload.bucket, upload.key);
  return error instanceof ConcatError ? new ConcatError(`assembling ${target}: ${error.message}`, error.cause) : error;
}

async function land(s3: S3Client, upload: OpenedCsvUpload, parts: NumberedPart[]): Promise<void> {
  if (parts.length === 0) {
    // Nothing to assemble (every chunk's output empty): S3 completes no upload without parts.
    await upload.abort();
    await emptyObject(s3, { bucket: upload.bucket, key: upload.key, contentType: CSV_TYPE }).complete();
    return;
  }
  try {
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: upload.bucket,
        Key: upload.key,
        UploadId: upload.uploadId,
        MultipartUpload: { Parts: parts },
      }),
      // No abortSignal: cancelled, S3 may still complete it, and the caller would be told it failed.
    );
    upload.open.closed = true;
  } catch (error) {
    const target = s3Uri(upload.bucket, upload.key);
    throw await upload.open.abortAfter(
      new ConcatError(`completing ${target} failed: ${describeFailure(error)}`, error),
    );
  }
}
