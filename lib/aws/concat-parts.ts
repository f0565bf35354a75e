/**
 * The parts of one concatenation (see concat.ts), sent to S3: copies `concurrency` at a time, the uploaded parts one
 * at a time with their pieces read into one buffer, every read and copy conditional on the source's ETag when known.
 */
import { GetObjectCommand, type S3Client, UploadPartCommand, UploadPartCopyCommand } from '@aws-sdk/client-s3';
import PQueue from 'p-queue';
import { ConcatError, describeFailure } from './concat-errors.ts';
import type { Piece, PlannedPart } from './concat-plan.ts';
import { s3Uri } from './s3.ts';

/** A source as the parts need it: where it is, its size, and the ETag reads and copies are conditional on. */
export interface Source {
  bucket: string;
  key: string;
  size: number;
  eTag?: string;
}

/** Where the parts go. */
export interface PartTarget {
  bucket: string;
  key: string;
  uploadId: string;
  concurrency: number;
  /** The first part's number, default 1; the others follow it. */
  firstPartNumber?: number;
}

/**
 * How the requests of one run stop: `signal` (the caller's) cancels requests in flight — a deadline has no time to
 * wait for them; `stopped` (the caller's or our own, after a failure) keeps queued work from starting. After a failure
 * of our own, requests in flight are left to land: S3 may still be writing a part whose request was cancelled, and a
 * part written after AbortMultipartUpload is what the abort must not miss. After the caller's signal that risk is
 * taken (AWS documents that an abort may have to be repeated for parts still in progress; the bucket's
 * AbortIncompleteMultipartUpload lifecycle rule is the backstop).
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
export async function runParts(
  s3: S3Client,
  request: PartTarget,
  sources: Source[],
  parts: PlannedPart[],
  signal?: AbortSignal,
): Promise<string[]> {
  const stop = new AbortController();
  const how: Stop = { signal, stopped: signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal]) };
  const queue = new PQueue({ concurrency: request.concurrency });
  const uploads = new PQueue({ concurrency: 1 });
  const target = { Bucket: request.bucket, Key: request.key, UploadId: request.uploadId };
  const tasks = parts.map((part, i) => {
    const send = async (): Promise<string> => {
      how.stopped.throwIfAborted();
      const PartNumber = (request.firstPartNumber ?? 1) + i;
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
      // Sliced now: the queue may run the read after `offset` has moved on to later pieces.
      const into = body.subarray(offset, offset + piece.end - piece.start);
      offset += into.length;
      return queue.add(() => {
        how.stopped.throwIfAborted();
        return readPiece(s3, sources[piece.source]!, piece, into, how.signal);
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

/** A part's ETag from S3's answer: CompleteMultipartUpload needs it for every part. */
export function requireETag(eTag: string | undefined, partNumber: number): string {
  if (eTag === undefined) throw new ConcatError(`S3 answered part ${partNumber} without an ETag`);
  return eTag;
}

/** `bucket/key` with the key URL-encoded, as x-amz-copy-source wants it ('/' kept). */
function copySource(source: Source): string {
  return `${source.bucket}/${encodeURIComponent(source.key).replace(/%2F/g, '/')}`;
}

export function sourceName(source: { bucket: string; key: string }): string {
  return s3Uri(source.bucket, source.key);
}
