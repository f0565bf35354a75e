/**
 * One S3 object whose bytes are the concatenation, in order, of existing objects (issue 14: rates.csv from the
 * workers' temporary outputs), through ONE multipart upload: big objects are copied server-side (UploadPartCopy),
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
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import PQueue from 'p-queue';
import { z } from 'zod';
import { describeIssues } from '../validation.ts';
import { s3Uri } from './s3.ts';
import { ConcatError, describeFailure } from './concat-errors.ts';
import { runParts, type Source, sourceName } from './concat-parts.ts';
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
  /** Makes the object appear at `key`; on failure aborts the upload and throws. */
  complete(signal?: AbortSignal): Promise<void>;
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

  const { UploadId: uploadId } = await s3
    .send(
      new CreateMultipartUploadCommand({
        Bucket: request.bucket,
        Key: request.key,
        ContentType: request.contentType,
        Metadata: request.metadata,
      }),
      // No abortSignal: cancelled, S3 may still open the upload, and we would never learn its id to abort it.
    )
    .catch((error: unknown) => {
      throw new ConcatError(`could not start the multipart upload of ${target}: ${describeFailure(error)}`, error);
    });
  if (uploadId === undefined) throw new ConcatError(`S3 started the multipart upload of ${target} without an UploadId`);
  const upload = new OpenUpload(s3, request, uploadId);
  const eTags = await (async () => {
    signal?.throwIfAborted();
    return runParts(s3, { ...request, uploadId }, sources, plan.parts, signal);
  })().catch(async (error: unknown) => {
    // runParts names the part and its source; the object they were for is named here, for whoever reads the log.
    const named =
      error instanceof ConcatError ? new ConcatError(`assembling ${target}: ${error.message}`, error.cause) : error;
    throw await upload.abortAfter(named, signal);
  });
  return {
    key: request.key,
    ...stats,
    complete: async (completeSignal?: AbortSignal) => {
      try {
        completeSignal?.throwIfAborted();
        await s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: request.bucket,
            Key: request.key,
            UploadId: uploadId,
            MultipartUpload: { Parts: eTags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) },
          }),
          // No abortSignal: cancelled, S3 may still complete it, and the caller would be told it failed.
        );
        upload.closed = true;
      } catch (error) {
        throw await upload.abortAfter(
          new ConcatError(`completing ${target} failed: ${describeFailure(error)}`, error),
          completeSignal,
        );
      }
    },
    abort: () => upload.abort(),
  };
}

/** An empty result: one PutObject (a multipart upload cannot have zero parts). */
export function emptyObject(
  s3: S3Client,
  request: Pick<Request, 'bucket' | 'key' | 'contentType' | 'metadata'>,
): Pick<PreparedConcat, 'complete' | 'abort'> {
  return {
    complete: async (signal?: AbortSignal) => {
      signal?.throwIfAborted();
      await s3
        .send(
          new PutObjectCommand({
            Bucket: request.bucket,
            Key: request.key,
            Body: new Uint8Array(0),
            ContentType: request.contentType,
            Metadata: request.metadata,
          }),
          // No abortSignal, as for CompleteMultipartUpload: a cancelled PUT may still land.
        )
        .catch((error: unknown) => {
          throw new ConcatError(
            `writing the empty ${s3Uri(request.bucket, request.key)} failed: ${describeFailure(error)}`,
            error,
          );
        });
    },
    abort: async () => undefined,
  };
}

/** The multipart upload, until it is completed or aborted. */
export class OpenUpload {
  closed = false;
  constructor(
    private readonly s3: S3Client,
    private readonly request: Pick<Request, 'bucket' | 'key'>,
    private readonly uploadId: string,
  ) {}

  async abort(): Promise<void> {
    if (this.closed) return;
    try {
      await this.s3.send(
        new AbortMultipartUploadCommand({
          Bucket: this.request.bucket,
          Key: this.request.key,
          UploadId: this.uploadId,
        }),
      );
    } catch (error) {
      if ((error as { name?: string }).name !== 'NoSuchUpload') throw error; // already gone: what we wanted
    }
    this.closed = true;
  }

  /** Aborts the upload after `error`; returns what to throw: the signal's reason when it stopped us, else `error`. */
  async abortAfter(error: unknown, signal?: AbortSignal): Promise<unknown> {
    const target = s3Uri(this.request.bucket, this.request.key);
    const reason = signal?.aborted ? signal.reason : error;
    try {
      await this.abort();
    } catch (abortError) {
      return new ConcatError(
        `${describeFailure(reason)}; aborting the multipart upload ${this.uploadId} of ${target} failed too (${describeFailure(abortError)}): ` +
          'its parts stay (and are billed) until it is aborted or the bucket lifecycle rule AbortIncompleteMultipartUpload removes it',
        reason,
      );
    }
    return reason;
  }
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
