/**
 * rates.csv's multipart upload, from its opening (before any chunk is parsed: the workers upload parts into it) to
 * the PendingCsv publish.ts commits: the runs of scratch objects between the chunks' own parts become parts as
 * assemble-plan.ts says, and `land()` completes the upload with every part's ETag — lib/aws/multipart-assembly.ts
 * does the S3 side, including aborting the upload once no request is in flight after any failure.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Source } from '../../aws/concat-parts.ts';
import { type AssemblyRun, MultipartAssembly, type NumberedPart } from '../../aws/multipart-assembly.ts';
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
  assembly: MultipartAssembly;
}

export async function openCsvUpload(s3: S3Client, bucket: string, key: string): Promise<OpenedCsvUpload> {
  const assembly = await MultipartAssembly.open(s3, { bucket, key, contentType: CSV_TYPE });
  return { bucket, key, uploadId: assembly.uploadId, assembly, abort: () => assembly.abort() };
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
      const csv = await assembleCsv(upload, planned.steps, sources, signal);
      return { csv, assembly: { ...assemblyFigures(planned.steps), rerunsWithoutParts } };
    }
    if (round >= chunks.length) throw new Error(`internal: rates.csv still cannot be assembled after ${round} rounds`);
    rerunsWithoutParts += planned.withoutParts.length;
    await rerunWithoutParts(planned.withoutParts);
  }
}

/**
 * Sends the runs' parts; resolves with rates.csv ready to appear. `sources[i]` is chunk i's scratch object.
 * Rejects (the upload aborted) with the first failure, after every request in flight has landed.
 */
async function assembleCsv(
  upload: OpenedCsvUpload,
  steps: readonly AssemblyStep[],
  sources: readonly Source[],
  signal?: AbortSignal,
): Promise<PendingCsv> {
  const placed: NumberedPart[] = [];
  const runs: AssemblyRun[] = [];
  for (const step of steps) {
    if (step.kind === 'placed') placed.push({ PartNumber: step.part.partNumber, ETag: step.part.eTag });
    else
      runs.push({
        firstPartNumber: step.firstPartNumber,
        sources: step.chunks.map((index) => sources[index] as Source),
        parts: step.plan.parts,
      });
  }
  const sent = await upload.assembly.sendRuns(
    runs,
    { runsAtOnce: RUNS_AT_ONCE, requestsPerRun: REQUESTS_PER_RUN },
    signal,
  );
  const parts = [...placed, ...sent];
  return { key: upload.key, land: () => upload.assembly.complete(parts), abandon: () => upload.abort() };
}
