/**
 * One S3 object whose bytes are the concatenation, in order, of existing objects, through ONE multipart upload
 * (multipart-assembly.ts, as one run): big objects are copied server-side (UploadPartCopy),
 * runs of small ones pass through the caller, as `concat-plan.ts` decides. The caller holds at most one uploaded
 * part (< 10 MiB) at a time.
 *
 * Two steps, so the result can be the `PendingCsv` of lib/rates/publish.ts: `prepareConcat` uploads and copies
 * every part (nothing is visible at the key yet), `complete()` makes the object appear (CompleteMultipartUpload),
 * `abort()` makes sure it never does. `concatObjects` does both. Any failure — a missing or changed source, S3
 * refusing a part, the caller's AbortSignal — aborts the multipart upload (after the requests in flight have
 * landed, so no part arrives after the abort) before the error is thrown: an unfinished upload bills its parts
 * until someone aborts it.
 *
 * Requests, for the cost model (n sources, c copied parts, u uploaded parts, g downloaded pieces): one HeadObject
 * per source whose size the caller did not give; CreateMultipartUpload + c UploadPartCopy + u UploadPart + g
 * GetObject + CompleteMultipartUpload. With nothing to concatenate (no sources, or all empty) one PutObject of an
 * empty body instead: a multipart upload needs at least one part, and S3 refuses to complete one without.
 */
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import PQueue from 'p-queue';
import { z } from 'zod';
import { describeIssues } from '../validation.ts';
import { s3Uri } from './s3.ts';
import { ConcatError, describeFailure } from './concat-errors.ts';
import { type Source, sourceName } from './concat-parts.ts';
import { emptyObject, MultipartAssembly } from './multipart-assembly.ts';
import { MAX_PARTS, planConcat } from './concat-plan.ts';

const sourceSchema = z.strictObject({
  /** Default: the target's bucket. */
  bucket: z.string().min(1).optional(),
  key: z.string().min(1),
  /** Bytes; when absent, a HeadObject asks S3. */
  size: z.number().int().nonnegative().optional(),
  /** When given, every read and copy of the source is conditional on it (If-Match / x-amz-copy-source-if-match). */
  eTag: z.string().min(1).optional(),
});

const requestSchema = z.strictObject({
  bucket: z.string().min(1),
  key: z.string().min(1),
  sources: z.array(sourceSchema),
  contentType: z.string().min(1).optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  /** Requests in flight at once (copies, reads, HEADs); uploads of downloaded bytes go one at a time. */
  concurrency: z.number().int().min(1).max(64).default(8),
});

export type ConcatSource = z.input<typeof sourceSchema>;
export type ConcatRequest = z.input<typeof requestSchema>;
type Request = z.output<typeof requestSchema>;

export interface ConcatStats {
  bytes: number;
  parts: number;
  copiedParts: number;
  uploadedParts: number;
  /** Bytes that passed through the caller (downloaded, then uploaded again). */
  downloadedBytes: number;
}

export interface PreparedConcat extends ConcatStats {
  key: string;
  /** Makes the object appear at `key` and resolves with its ETag as S3 answered it; on failure aborts the upload and throws. */
  complete(signal?: AbortSignal): Promise<string | undefined>;
  /** Makes sure the object never appears (aborts the multipart upload; idempotent). */
  abort(): Promise<void>;
}

/** `prepareConcat` then `complete()`: the object is at `request.key` when this resolves. */
export async function concatObjects(s3: S3Client, request: ConcatRequest, signal?: AbortSignal): Promise<ConcatStats> {
  const prepared = await prepareConcat(s3, request, signal);
  await prepared.complete(signal);
  const { complete: _complete, abort: _abort, key: _key, ...stats } = prepared;
  return stats;
}

export async function prepareConcat(s3: S3Client, input: ConcatRequest, signal?: AbortSignal): Promise<PreparedConcat> {
  const parsed = requestSchema.safeParse(input);
  if (!parsed.success) throw new TypeError(`concatObjects: ${describeIssues(parsed.error, 'request')}`);
  const request = parsed.data;
  signal?.throwIfAborted();
  const target = s3Uri(request.bucket, request.key);
  const sources = await sizeSources(s3, request, signal);
  const plan = planConcat(sources.map((source) => source.size));
  if (plan.parts.length > MAX_PARTS) {
    // Only reachable with at least 10,000 x 5 MiB (~49 GiB) in all: every part but the last holds 5 MiB or more. A
    // two-level concatenation (groups into intermediate objects first) would lift it; no run of this project comes near.
    throw new ConcatError(
      `${target} would need ${plan.parts.length} parts from ${sources.length} objects; S3 allows ${MAX_PARTS} per upload: use fewer, larger chunks`,
    );
  }
  const stats: ConcatStats = {
    bytes: plan.bytes,
    parts: plan.parts.length,
    copiedParts: plan.parts.filter((part) => part.kind === 'copy').length,
    uploadedParts: plan.parts.filter((part) => part.kind === 'upload').length,
    downloadedBytes: plan.downloadBytes,
  };
  if (plan.parts.length === 0) return { key: request.key, ...stats, ...emptyObject(s3, request) };

  const assembly = await MultipartAssembly.open(s3, request);
  const parts = await assembly.sendRuns(
    [{ firstPartNumber: 1, sources, parts: plan.parts }],
    { runsAtOnce: 1, requestsPerRun: request.concurrency },
    signal,
  );
  return {
    key: request.key,
    ...stats,
    complete: (completeSignal?: AbortSignal) => assembly.complete(parts, completeSignal),
    abort: () => assembly.abort(),
  };
}

/** Every source with its bucket and size; the sizes the caller did not give come from HeadObject. */
async function sizeSources(s3: S3Client, request: Request, signal?: AbortSignal): Promise<Source[]> {
  const queue = new PQueue({ concurrency: request.concurrency });
  return Promise.all(
    request.sources.map((given) =>
      queue.add(async (): Promise<Source> => {
        const source = { ...given, bucket: given.bucket ?? request.bucket };
        if (source.size !== undefined) return { ...source, size: source.size };
        try {
          const head = await s3.send(
            new HeadObjectCommand({ Bucket: source.bucket, Key: source.key, IfMatch: source.eTag }),
            { abortSignal: signal },
          );
          return { ...source, size: head.ContentLength ?? 0, eTag: source.eTag ?? head.ETag };
        } catch (error) {
          if (signal?.aborted) throw signal.reason;
          throw new ConcatError(
            `reading the size of ${sourceName(source)} failed: ${describeFailure(error, source)}`,
            error,
          );
        }
      }),
    ),
  );
}
