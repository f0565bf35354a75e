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
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import PQueue from 'p-queue';
import { z } from 'zod';
import { describeIssues } from '../validation.ts';
import { s3Uri } from './s3.ts';
import { ConcatError, describeFailure } from './concat-errors.ts';
import { MAX_PARTS, type Piece, type PlannedPart, planConcat } from './concat-plan.ts';

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
type Source = Required<Pick<ConcatSource, 'bucket' | 'key' | 'size'>> & { eTag?: string };

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
    // Only reachable with more than 10,000 sources of >= 5 MiB (or > 48 GiB in all): a two-level concatenation
    // (groups first) would lift it; no run of this project comes near.
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
      { abortSignal: signal },
    )
    .catch((error: unknown) => {
      throw new ConcatError(`could not start the multipart upload of ${target}: ${describeFailure(error)}`, error);
    });
  if (uploadId === undefined) throw new ConcatError(`S3 started the multipart upload of ${target} without an UploadId`);
  const upload = new OpenUpload(s3, request, uploadId);
  const eTags = await runParts(s3, request, sources, plan.parts, uploadId, signal).catch(async (error: unknown) => {
    throw await upload.abortAfter(error, signal);
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
          { abortSignal: completeSignal },
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
function emptyObject(s3: S3Client, request: Request): Pick<PreparedConcat, 'complete' | 'abort'> {
  return {
    complete: async (signal?: AbortSignal) => {
      await s3
        .send(
          new PutObjectCommand({
            Bucket: request.bucket,
            Key: request.key,
            Body: new Uint8Array(0),
            ContentType: request.contentType,
            Metadata: request.metadata,
          }),
          { abortSignal: signal },
        )
        .catch((error: unknown) => {
          if (signal?.aborted) throw signal.reason;
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
class OpenUpload {
  closed = false;
  constructor(
    private readonly s3: S3Client,
    private readonly request: Request,
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

/**
 * How the requests of one run stop: `signal` (the caller's) cancels requests in flight — a deadline has no time to
 * wait for them; `stopped` (the caller's or our own, after a failure) keeps queued work from starting. After a failure
 * of our own, requests in flight are left to land: S3 would still be writing a part we cancelled, and a part written
 * after AbortMultipartUpload is exactly what the abort must not miss.
 */
interface Stop {
  signal: AbortSignal | undefined;
  stopped: AbortSignal;
}

/**
 * Uploads and copies every part; resolves with their ETags in part order. Copies run `concurrency` at a time; the
 * uploaded parts one at a time (each holds its bytes in memory). The first failure stops the rest (see Stop), and
 * this rejects with it only once no request is in flight.
 */
async function runParts(
  s3: S3Client,
  request: Request,
  sources: Source[],
  parts: PlannedPart[],
  uploadId: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const stop = new AbortController();
  const how: Stop = { signal, stopped: signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal]) };
  const queue = new PQueue({ concurrency: request.concurrency });
  const uploads = new PQueue({ concurrency: 1 });
  const target = { Bucket: request.bucket, Key: request.key, UploadId: uploadId };
  const tasks = parts.map((part, i) => {
    const send = async (): Promise<string> => {
      how.stopped.throwIfAborted();
      const PartNumber = i + 1;
      if (part.kind === 'copy')
        return copyPart(s3, { ...target, PartNumber }, sources[part.piece.source]!, part, signal);
      const body = await download(s3, sources, part.pieces, part.bytes, request.concurrency, how);
      const result = await s3
        .send(new UploadPartCommand({ ...target, PartNumber, Body: body }), { abortSignal: signal })
        .catch((error: unknown) => {
          throw new ConcatError(
            `uploading part ${PartNumber} (${body.length} bytes) failed: ${describeFailure(error)}`,
            error,
          );
        });
      return requireETag(result.ETag, PartNumber);
    };
    // Not queue.clear() on failure: p-queue leaves the promises of dropped tasks pending forever. Each task checks
    // `stopped` as it starts instead, so what is still queued rejects at once.
    return part.kind === 'copy' ? queue.add(send) : uploads.add(send);
  });
  const settled = await Promise.allSettled(
    tasks.map((task) =>
      task.catch((error: unknown) => {
        stop.abort(error);
        throw error;
      }),
    ),
  );
  // The error that stopped the others, not the first in part order (that may be a copy cancelled because of it).
  if (stop.signal.aborted) throw stop.signal.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<string>).value);
}

async function copyPart(
  s3: S3Client,
  target: { Bucket: string; Key: string; UploadId: string; PartNumber: number },
  source: Source,
  part: Extract<PlannedPart, { kind: 'copy' }>,
  signal: AbortSignal | undefined,
): Promise<string> {
  const { start, end } = part.piece;
  try {
    const result = await s3.send(
      new UploadPartCopyCommand({
        ...target,
        CopySource: copySource(source),
        CopySourceRange: part.whole ? undefined : `bytes=${start}-${end - 1}`,
        CopySourceIfMatch: source.eTag,
      }),
      { abortSignal: signal },
    );
    return requireETag(result.CopyPartResult?.ETag, target.PartNumber);
  } catch (error) {
    if (error instanceof ConcatError || signal?.aborted) throw error;
    throw new ConcatError(
      `copying ${part.whole ? '' : `bytes ${start}-${end - 1} of `}${sourceName(source)} into part ${target.PartNumber} failed: ${describeFailure(error, source)}`,
      error,
    );
  }
}

/** The pieces of one uploaded part, downloaded into one buffer of exactly `bytes` bytes. */
async function download(
  s3: S3Client,
  sources: Source[],
  pieces: Piece[],
  bytes: number,
  concurrency: number,
  how: Stop,
): Promise<Buffer> {
  const body = Buffer.allocUnsafe(bytes);
  const queue = new PQueue({ concurrency });
  let offset = 0;
  // allSettled: a failed read rejects only once the other reads have landed (none is left in flight).
  const reads = await Promise.allSettled(
    pieces.map((piece) => {
      const at = offset;
      offset += piece.end - piece.start;
      return queue.add(() => {
        how.stopped.throwIfAborted();
        return readPiece(s3, sources[piece.source]!, piece, body.subarray(at, offset), how.signal);
      });
    }),
  );
  const failed = reads.find((read) => read.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return body;
}

/** Reads bytes [start, end) of the source into `into` (exactly its length). */
async function readPiece(
  s3: S3Client,
  source: Source,
  piece: Piece,
  into: Buffer,
  signal?: AbortSignal,
): Promise<void> {
  const whole = piece.start === 0 && piece.end === source.size;
  const what = `${whole ? '' : `bytes ${piece.start}-${piece.end - 1} of `}${sourceName(source)}`;
  try {
    const result = await s3.send(
      new GetObjectCommand({
        Bucket: source.bucket,
        Key: source.key,
        Range: whole ? undefined : `bytes=${piece.start}-${piece.end - 1}`,
        IfMatch: source.eTag,
      }),
      { abortSignal: signal },
    );
    let filled = 0;
    for await (const chunk of result.Body as AsyncIterable<Uint8Array>) {
      if (filled + chunk.length > into.length)
        throw new ConcatError(`${sourceName(source)} is longer than its ${source.size} bytes`);
      into.set(chunk, filled);
      filled += chunk.length;
    }
    if (filled !== into.length)
      throw new ConcatError(
        `${what}: got ${filled} bytes of ${into.length} (is the object shorter than ${source.size} bytes?)`,
      );
  } catch (error) {
    if (error instanceof ConcatError || signal?.aborted) throw error;
    throw new ConcatError(`reading ${what} failed: ${describeFailure(error, source)}`, error);
  }
}

function requireETag(eTag: string | undefined, partNumber: number): string {
  if (eTag === undefined) throw new ConcatError(`S3 answered part ${partNumber} without an ETag`);
  return eTag;
}

/** `bucket/key` with the key URL-encoded, as x-amz-copy-source wants it ('/' kept). */
function copySource(source: Source): string {
  return `${source.bucket}/${encodeURIComponent(source.key).replace(/%2F/g, '/')}`;
}

function sourceName(source: { bucket: string; key: string }): string {
  return s3Uri(source.bucket, source.key);
}
