/**
 * The errors a parallel rates worker throws of its own, and how an S3 error on an object it reads is worded. A
 * worker's errors reach the coordinator through the fan-out as the error's `name` and `message` (a Lambda's
 * FunctionError, a worker thread's envelope), so each class has a name the coordinator can tell apart.
 */
import { InfrastructureError, UserError } from '../../errors.ts';
import { isNotFound, s3Uri } from '../../aws/s3.ts';

/**
 * The upload the run was splitting was replaced (or deleted) while a worker was reading it: its ETag is no longer
 * the one the coordinator read, so the chunks would mix two files. Retrying the chunk cannot help; the run stops.
 */
export class SourceChangedError extends UserError {
  constructor(message: string) {
    super('SOURCE_CHANGED', message);
    this.name = 'SourceChangedError';
    this.stack = `${this.name}: ${message}`;
  }
}

/** A worker could not do its task for a reason outside the CSV: S3, a scratch object, an inconsistency. */
export class RatesWorkerError extends InfrastructureError {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RatesWorkerError';
  }

  override get code(): string {
    return 'RATES_WORKER_FAILED';
  }
}

interface SdkErrorShape {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function isPreconditionFailed(error: unknown): boolean {
  const { name, $metadata } = (error ?? {}) as SdkErrorShape;
  return name === 'PreconditionFailed' || $metadata?.httpStatusCode === 412;
}

/** An SDK error as `Name (HTTP status): message`; any other error as its message. */
export function describeSdkError(error: unknown): string {
  if (error instanceof RatesWorkerError) return error.message;
  const { name, message, $metadata } = (error ?? {}) as SdkErrorShape;
  const status = $metadata?.httpStatusCode;
  const text = message !== undefined && message !== '' && message !== 'UnknownError' ? message : 'no message';
  return `${name ?? 'Error'}${status === undefined ? '' : ` (HTTP ${status})`}: ${text}`;
}

/** What reading the upload `source` failed with, as the error to throw. */
export function sourceReadError(error: unknown, source: { bucket: string; key: string; eTag: string }): Error {
  const uri = s3Uri(source.bucket, source.key);
  if (isPreconditionFailed(error)) {
    return new SourceChangedError(
      `${uri} was replaced while the parallel run was reading it (its ETag is no longer ${source.eTag}): ` +
        'this run stops, and the new upload needs a run of its own',
    );
  }
  if ((error as SdkErrorShape)?.name !== 'NoSuchBucket' && isNotFound(error)) {
    return new SourceChangedError(`${uri} was deleted while the parallel run was reading it: this run stops`);
  }
  return new RatesWorkerError(`reading ${uri} failed: ${describeSdkError(error)}`, error);
}

/** What reading a scratch object (a chunk's values) failed with, as the error to throw. */
export function scratchReadError(error: unknown, object: { bucket: string; key: string; eTag: string }): Error {
  const uri = s3Uri(object.bucket, object.key);
  if (isPreconditionFailed(error)) {
    return new RatesWorkerError(
      `${uri} changed since its worker wrote it (its ETag is no longer ${object.eTag}): was its chunk run twice?`,
      error,
    );
  }
  if ((error as SdkErrorShape)?.name !== 'NoSuchBucket' && isNotFound(error)) {
    return new RatesWorkerError(`${uri} does not exist (scratch objects under runs/ expire after a day)`, error);
  }
  return new RatesWorkerError(`reading ${uri} failed: ${describeSdkError(error)}`, error);
}

/** A chunk's outputs that do not add up to what its reply counts, as the error to throw; null when they do. */
export function outputMismatch(
  index: number,
  csvBytes: number,
  valuesBytes: number,
  reply: { outputBytes: number; n: number },
): RatesWorkerError | null {
  if (csvBytes === reply.outputBytes && valuesBytes === 8 * reply.n) return null;
  return new RatesWorkerError(
    `chunk ${index}: wrote ${csvBytes} bytes of rates.csv and ${valuesBytes} of values, ` +
      `but its reply counts ${reply.outputBytes} and 8 × ${reply.n}`,
  );
}
