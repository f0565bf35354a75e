/**
 * One S3 object assembled through one multipart upload, from its opening to CompleteMultipartUpload: parts someone
 * else uploaded (rates workers upload theirs into the upload they are handed) are placed by number, and runs of
 * existing objects become parts as concat-plan.ts plans them (concat-parts.ts sends them). Plain concatenation
 * (concat.ts) is its one-run case; rates.csv of a split run (lib/rates/parallel/assemble.ts) its many-run case.
 *
 * Any failure — a run's part refused, a source missing or changed, Complete refused, the caller's AbortSignal —
 * aborts the upload once no request is in flight, so no part arrives after the abort, before the error is thrown:
 * an unfinished upload bills its parts until someone aborts it.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import PQueue from 'p-queue';
import { ConcatError, describeFailure } from './concat-errors.ts';
import { runParts, type Source } from './concat-parts.ts';
import type { PlannedPart } from './concat-plan.ts';
import { s3Uri } from './s3.ts';

/** Where the object goes and what it is. */
export interface AssemblyTarget {
  bucket: string;
  key: string;
  contentType?: string;
  metadata?: Record<string, string>;
}

/** A part already in the upload, or about to be: its number and ETag, as CompleteMultipartUpload lists it. */
export interface NumberedPart {
  PartNumber: number;
  ETag: string;
}

/** Consecutive parts from existing objects: `parts` (planned over `sources`) numbered from `firstPartNumber`. */
export interface AssemblyRun {
  firstPartNumber: number;
  sources: Source[];
  parts: PlannedPart[];
}

export interface RunLimits {
  /** Runs sent at once. */
  runsAtOnce: number;
  /** Requests in flight within one run (copies and reads; uploads of downloaded bytes go one at a time). */
  requestsPerRun: number;
}

/** An open multipart upload, until it is completed or aborted. */
export class MultipartAssembly {
  closed = false;

  private constructor(
    private readonly s3: S3Client,
    readonly target: AssemblyTarget,
    readonly uploadId: string,
  ) {}

  /** CreateMultipartUpload: nothing is visible at the key until `complete`. */
  static async open(s3: S3Client, target: AssemblyTarget): Promise<MultipartAssembly> {
    const { UploadId: uploadId } = await s3
      .send(
        new CreateMultipartUploadCommand({
          Bucket: target.bucket,
          Key: target.key,
          ContentType: target.contentType,
          Metadata: target.metadata,
        }),
        // No abortSignal: cancelled, S3 may still open the upload, and we would never learn its id to abort it.
      )
      .catch((error: unknown) => {
        throw new ConcatError(
          `could not start the multipart upload of ${name(target)}: ${describeFailure(error)}`,
          error,
        );
      });
    if (uploadId === undefined)
      throw new ConcatError(`S3 started the multipart upload of ${name(target)} without an UploadId`);
    return new MultipartAssembly(s3, target, uploadId);
  }

  /**
   * Sends every run's parts; resolves with their numbers and ETags. The first failure stops the runs not yet
   * started; once the others have landed the upload is aborted and the failure thrown, naming the object.
   */
  async sendRuns(runs: readonly AssemblyRun[], limits: RunLimits, signal?: AbortSignal): Promise<NumberedPart[]> {
    const parts: NumberedPart[] = [];
    const queue = new PQueue({ concurrency: limits.runsAtOnce });
    let failure: { error: unknown } | null = null;
    const target = { bucket: this.target.bucket, key: this.target.key, uploadId: this.uploadId };
    await Promise.all(
      runs.map((run) =>
        queue.add(async () => {
          if (failure !== null) return;
          try {
            signal?.throwIfAborted();
            const request = { ...target, concurrency: limits.requestsPerRun, firstPartNumber: run.firstPartNumber };
            const eTags = await runParts(this.s3, request, run.sources, run.parts, signal);
            for (const [k, ETag] of eTags.entries()) parts.push({ PartNumber: run.firstPartNumber + k, ETag });
          } catch (error) {
            failure ??= { error };
          }
        }),
      ),
    );
    if (failure !== null) throw await this.abortAfter(this.named((failure as { error: unknown }).error), signal);
    return parts;
  }

  /**
   * Makes the object appear from `parts` (any order). With no parts at all S3 completes nothing, so the upload is
   * aborted and an empty object put instead. On failure the upload is aborted and the error thrown.
   */
  async complete(parts: readonly NumberedPart[], signal?: AbortSignal): Promise<string | undefined> {
    if (parts.length === 0) {
      await this.abort();
      return emptyObject(this.s3, this.target).complete(signal);
    }
    try {
      signal?.throwIfAborted();
      const completed = await this.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.target.bucket,
          Key: this.target.key,
          UploadId: this.uploadId,
          MultipartUpload: { Parts: [...parts].sort((a, b) => a.PartNumber - b.PartNumber) },
        }),
        // No abortSignal: cancelled, S3 may still complete it, and the caller would be told it failed.
      );
      this.closed = true;
      return completed.ETag;
    } catch (error) {
      throw await this.abortAfter(
        new ConcatError(`completing ${name(this.target)} failed: ${describeFailure(error)}`, error),
        signal,
      );
    }
  }

  /** Makes sure the object never appears from this upload (idempotent). */
  async abort(): Promise<void> {
    if (this.closed) return;
    try {
      await this.s3.send(
        new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.target.key, UploadId: this.uploadId }),
      );
    } catch (error) {
      if ((error as { name?: string }).name !== 'NoSuchUpload') throw error; // already gone: what we wanted
    }
    this.closed = true;
  }

  /** Aborts the upload after `error`; returns what to throw: the signal's reason when it stopped us, else `error`. */
  async abortAfter(error: unknown, signal?: AbortSignal): Promise<unknown> {
    const reason = signal?.aborted ? signal.reason : error;
    try {
      await this.abort();
    } catch (abortError) {
      return new ConcatError(
        `${describeFailure(reason)}; aborting the multipart upload ${this.uploadId} of ${name(this.target)} failed too (${describeFailure(abortError)}): ` +
          'its parts stay (and are billed) until it is aborted or the bucket lifecycle rule AbortIncompleteMultipartUpload removes it',
        reason,
      );
    }
    return reason;
  }

  /** runParts names the part and its source; the object they were for is named here, for whoever reads the log. */
  private named(error: unknown): unknown {
    return error instanceof ConcatError
      ? new ConcatError(`assembling ${name(this.target)}: ${error.message}`, error.cause)
      : error;
  }
}

/** An empty object: one PutObject (a multipart upload cannot have zero parts). */
export function emptyObject(
  s3: S3Client,
  target: AssemblyTarget,
): { complete(signal?: AbortSignal): Promise<string | undefined>; abort(): Promise<void> } {
  return {
    complete: async (signal?: AbortSignal) => {
      signal?.throwIfAborted();
      const put = await s3
        .send(
          new PutObjectCommand({
            Bucket: target.bucket,
            Key: target.key,
            Body: new Uint8Array(0),
            ContentType: target.contentType,
            Metadata: target.metadata,
          }),
          // No abortSignal, as for CompleteMultipartUpload: a cancelled PUT may still land.
        )
        .catch((error: unknown) => {
          throw new ConcatError(`writing the empty ${name(target)} failed: ${describeFailure(error)}`, error);
        });
      return put.ETag;
    },
    abort: async () => undefined,
  };
}

function name(target: { bucket: string; key: string }): string {
  return s3Uri(target.bucket, target.key);
}
