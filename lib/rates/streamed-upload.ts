/**
 * An object uploaded as it is produced — rates.csv on the single path, a chunk's scratch objects on a split run's
 * worker — visible in S3 only once `land()` is called: a stream that ends under a part's size goes up as one
 * PutObject, a longer one as a multipart upload (lib/aws/multipart-assembly.ts) that is completed when it ends.
 *
 * Memory stays flat whatever the object's size: the stream holds 1 MiB and at most `queueSize` parts of 5 MiB are in
 * flight plus the one being filled; a writer that outpaces S3 waits for 'drain'. It counts the bytes written, so
 * `land()` tells the object's exact size (a split run's worker vouches for it; the coordinator assembles rates.csv
 * from those sizes).
 *
 * Written here rather than with lib-storage's `Upload` (which this replaced): that one concatenates the chunks it is
 * given into each part — a copy of every byte — and keeps each chunk by reference until then, so the rates engine
 * had to take a fresh 256 KiB output buffer per flush. Here each write is copied once into a pooled part buffer and
 * let go of at once (`releasesWrittenBuffers`), so the engine refills its buffers (lib/rates/output-sink.ts).
 */
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { PutObjectCommand, type S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { requireETag } from '../aws/concat-parts.ts';
import { MultipartAssembly, type NumberedPart } from '../aws/multipart-assembly.ts';

export interface Landed {
  bytes: number;
  /** As S3 answered it (quoted); undefined if it answered none. */
  eTag: string | undefined;
}

export interface StreamedUpload {
  /** Where the object's bytes are written. */
  stream: NodeJS.WritableStream;
  /** Rejects if the upload fails on its own (never resolves): a writer waiting for 'drain' would wait forever. */
  failed: Promise<never>;
  /** Ends the stream, so the object appears; resolves once it is there, with its size and ETag. */
  land(): Promise<Landed>;
  /**
   * Makes sure the object can no longer appear (unless it already has): stops the stream, waits for the requests in
   * flight and aborts the multipart upload. Resolves with the upload's own error, if it failed for a reason other
   * than this.
   */
  abandon(): Promise<unknown>;
}

/** S3's smallest part but the last: the most a small object waits in memory before its multipart upload opens. */
const PART_BYTES = 5 * 1024 * 1024;

interface Target {
  bucket: string;
  key: string;
  contentType: string;
  queueSize: number;
}

/** The object's bytes, cut into parts as they come; `_final` sends the last one and completes the upload. */
class PartUploadStream extends Writable {
  /** Read by OutputSink: a written buffer may be filled again once its write callback has run. */
  readonly releasesWrittenBuffers = true;
  bytes = 0;
  eTag: string | undefined;
  /** The upload's own failure (a refused part, a failed Complete), as opposed to the writer's abandoning it. */
  uploadError: unknown;

  private part: Buffer | null = null;
  private partBytes = 0;
  private nextPartNumber = 1;
  private readonly spare: Buffer[] = [];
  private assembly: Promise<MultipartAssembly> | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly parts: NumberedPart[] = [];

  constructor(
    private readonly s3: S3Client,
    private readonly target: Target,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.take(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finish().then(() => callback(), callback);
  }

  /** Waits for every request in flight and aborts the multipart upload, if one was opened. */
  async abort(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    if (this.assembly === null) return;
    const assembly = await this.assembly.catch(() => null);
    await assembly?.abort();
  }

  private async take(chunk: Buffer): Promise<void> {
    for (let from = 0; from < chunk.length; ) {
      // A full part goes once more bytes come: an object of exactly one part's size stays one PutObject.
      if (this.partBytes === PART_BYTES) await this.sendPart();
      this.part ??= this.spare.pop() ?? Buffer.allocUnsafe(PART_BYTES);
      const count = Math.min(chunk.length - from, PART_BYTES - this.partBytes);
      chunk.copy(this.part, this.partBytes, from, from + count);
      this.partBytes += count;
      from += count;
    }
    this.bytes += chunk.length;
  }

  /** Sends the part being filled; returns once fewer than `queueSize` parts are in flight. */
  private async sendPart(): Promise<void> {
    const buffer = this.part as Buffer;
    const body = buffer.subarray(0, this.partBytes);
    this.part = null;
    this.partBytes = 0;
    const partNumber = this.nextPartNumber++;
    const { bucket, key, contentType } = this.target;
    this.assembly ??= MultipartAssembly.open(this.s3, { bucket, key, contentType });
    const assembly = this.assembly;
    const sending: Promise<void> = assembly
      .then(({ uploadId }) =>
        this.s3.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: body,
            ContentLength: body.length,
          }),
        ),
      )
      .then(({ ETag }) => {
        this.parts.push({ PartNumber: partNumber, ETag: requireETag(ETag, partNumber) });
        this.spare.push(buffer);
      })
      .catch((error: unknown) => {
        // The object would miss this part: fail the stream now (its writer learns through 'error' and `failed`).
        this.uploadError ??= error;
        this.destroy(error as Error);
        throw error;
      })
      .finally(() => this.inFlight.delete(sending));
    this.inFlight.add(sending);
    sending.catch(() => undefined); // reported through the stream's error
    while (this.inFlight.size >= this.target.queueSize) await Promise.race(this.inFlight);
  }

  private async finish(): Promise<void> {
    if (this.assembly === null) {
      // At most a part's size: one PutObject.
      const body = this.part === null ? new Uint8Array(0) : this.part.subarray(0, this.partBytes);
      const { bucket, key, contentType } = this.target;
      const put = await this.s3
        .send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ContentType: contentType,
          }),
        )
        .catch((error: unknown) => {
          this.uploadError ??= error;
          throw error;
        });
      this.eTag = put.ETag;
      return;
    }
    if (this.partBytes > 0) await this.sendPart();
    await Promise.allSettled([...this.inFlight]);
    // A part that failed earlier has left the set: Complete must never list the others without it.
    if (this.uploadError !== undefined) throw this.uploadError;
    const assembly = await this.assembly;
    // complete() aborts the upload itself when Complete fails.
    this.eTag = await assembly.complete(this.parts).catch((error: unknown) => {
      this.uploadError ??= error;
      throw error;
    });
  }
}

export function streamedUpload(
  s3: S3Client,
  target: { bucket: string; key: string; contentType?: string; queueSize?: number },
): StreamedUpload {
  const stream = new PartUploadStream(s3, {
    bucket: target.bucket,
    key: target.key,
    contentType: target.contentType ?? 'text/csv; charset=utf-8',
    queueSize: target.queueSize ?? 4,
  });
  const done = finished(stream);
  done.catch(() => undefined); // observed through failed / land / abandon
  const abandoned = new Error(`upload of ${target.key} abandoned`);
  const failed = done.then(
    () => new Promise<never>(() => undefined),
    (error: unknown) => {
      throw stream.uploadError ?? error;
    },
  );
  failed.catch(() => undefined);
  return {
    stream,
    failed,
    land: async () => {
      stream.end();
      try {
        await done;
      } catch (error) {
        // A part or Complete failed: nothing may stay open (complete() aborts after its own failure).
        await stream.abort().catch(() => undefined);
        throw stream.uploadError ?? error;
      }
      return { bytes: stream.bytes, eTag: stream.eTag };
    },
    abandon: async () => {
      if (!stream.destroyed) stream.destroy(abandoned);
      await stream.abort();
      const error = stream.uploadError;
      return error === undefined || error === abandoned ? undefined : error;
    },
  };
}
