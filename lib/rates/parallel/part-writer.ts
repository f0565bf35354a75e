/**
 * A worker's rates.csv bytes sent straight into the result's multipart upload (issue 14: no data through the
 * coordinator, and none of it copied again): parts of exactly `partBytes` under the part numbers the coordinator
 * granted, in order — except the chunk's last bytes, which go to its scratch key.
 *
 * Why keep the last bytes back: S3 wants every part but an upload's last to hold at least 5 MiB, and a chunk cannot
 * know whether the next chunk's output starts a part of its own or is too small to. So a part is cut only while at
 * least `partBytes + minPart` bytes are buffered, which leaves 5 MiB to 5 MiB + `partBytes` (or the whole output, if
 * smaller) at the end; the coordinator copies that scratch object server-side into the part after this chunk's
 * parts, or stitches it to small neighbours (assemble-plan.ts). Memory: at most two parts plus the 5 MiB held back.
 *
 * Every attempt of a task writes the same part numbers, so a re-run replaces its first run's parts; the
 * coordinator completes the upload with the ETags of the run it kept, so no other attempt's part can slip in.
 */
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { PutObjectCommand, type S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { requireETag } from '../../aws/concat-parts.ts';
import { S3_PART_LIMITS } from '../../aws/concat-plan.ts';
import { s3Uri } from '../../aws/s3.ts';
import type { Landed } from '../streamed-upload.ts';
import type { PartGrant, UploadedPart } from './tasks.ts';
import { describeSdkError, RatesWorkerError } from './worker-errors.ts';

export interface LandedChunkCsv extends Landed {
  /** The parts uploaded into rates.csv, in order; `bytes` counts them and the scratch object alike. */
  parts: UploadedPart[];
  /** The scratch object's share of `bytes`. */
  scratchBytes: number;
}

export interface PartWriter {
  stream: NodeJS.WritableStream;
  /** Rejects when a part fails to upload (never resolves): a writer waiting for 'drain' would wait forever. */
  failed: Promise<never>;
  /** Ends the stream, waits for the parts, writes the bytes held back to `scratchKey`. */
  land(): Promise<LandedChunkCsv>;
  /** Stops uploading and waits for the part in flight; resolves with a part's own failure, if there was one. */
  abandon(): Promise<unknown>;
}

interface Target {
  bucket: string;
  scratchKey: string;
  chunk: number;
}

class PartStream extends Writable {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private inFlight: Promise<void> | null = null;
  readonly parts: UploadedPart[] = [];
  uploadError: unknown;
  bytes = 0;

  constructor(
    private readonly s3: S3Client,
    private readonly grant: PartGrant,
    private readonly target: Target,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    this.bytes += chunk.length;
    this.cutParts().then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    Promise.resolve(this.inFlight).then(() => callback(), callback);
  }

  /** The bytes held back, once the stream has finished. */
  rest(): Buffer {
    return Buffer.concat(this.held, this.heldBytes);
  }

  /** Waits for the part in flight, if any (its failure was already reported through the stream). */
  async settle(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
  }

  private async cutParts(): Promise<void> {
    const { partBytes } = this.grant;
    while (this.heldBytes >= partBytes + S3_PART_LIMITS.minPart) {
      if (this.parts.length + (this.inFlight === null ? 0 : 1) >= this.grant.count) {
        throw new RatesWorkerError(
          `chunk ${this.target.chunk}: its rates.csv bytes outgrew the ${this.grant.count} parts of ${partBytes} bytes ` +
            'the coordinator granted (internal: the grant is sized for the longest output a chunk can have)',
        );
      }
      const body = this.take(partBytes);
      // One part in flight while the next one fills: parsing waits only when S3 is slower than it.
      await this.inFlight;
      this.inFlight = this.upload(this.grant.first + this.parts.length, body);
    }
  }

  private take(n: number): Buffer {
    const all = Buffer.concat(this.held, this.heldBytes);
    this.held = [all.subarray(n)];
    this.heldBytes -= n;
    return all.subarray(0, n);
  }

  private async upload(partNumber: number, body: Buffer): Promise<void> {
    const { key, uploadId } = this.grant;
    try {
      const answer = await this.s3.send(
        new UploadPartCommand({
          Bucket: this.target.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
        }),
      );
      this.parts.push({ partNumber, eTag: requireETag(answer.ETag, partNumber), bytes: body.length });
    } catch (error) {
      this.uploadError = error;
      const uri = s3Uri(this.target.bucket, key);
      const failure = new RatesWorkerError(
        `chunk ${this.target.chunk}: uploading part ${partNumber} of ${uri} failed: ${describeSdkError(error)}`,
        error,
      );
      this.destroy(failure);
      throw failure;
    }
  }
}

export function partWriter(s3: S3Client, grant: PartGrant, target: Target): PartWriter {
  const stream = new PartStream(s3, grant, target);
  const failed = new Promise<never>((_resolve, reject) => {
    stream.on('error', (error) => {
      if (stream.uploadError !== undefined) reject(error);
    });
  });
  failed.catch(() => undefined);
  return {
    stream,
    failed,
    land: async () => {
      stream.end();
      await finished(stream);
      const rest = stream.rest();
      const put = await s3
        .send(new PutObjectCommand({ Bucket: target.bucket, Key: target.scratchKey, Body: rest }))
        .catch((error: unknown) => {
          const uri = s3Uri(target.bucket, target.scratchKey);
          throw new RatesWorkerError(`chunk ${target.chunk}: writing ${uri} failed: ${describeSdkError(error)}`, error);
        });
      return { bytes: stream.bytes, eTag: put.ETag, parts: [...stream.parts], scratchBytes: rest.length };
    },
    abandon: async () => {
      if (!stream.destroyed) stream.destroy(new Error(`parts of chunk ${target.chunk} abandoned`));
      await stream.settle();
      return stream.uploadError;
    },
  };
}
