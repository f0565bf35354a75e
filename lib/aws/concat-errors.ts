/** The error `concat.ts` throws, and how an SDK error is worded for the person who has to act on it. */
import { InfrastructureError } from '../errors.ts';
import { isNotFound, s3Uri } from './s3.ts';

/** Assembling an object from others failed; the multipart upload was aborted unless the message says otherwise. */
export class ConcatError extends InfrastructureError {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ConcatError';
  }

  override get code(): string {
    return 'CONCAT_FAILED';
  }
}

/**
 * What went wrong, in words: a missing source or a changed one (its ETag no longer the one the caller gave) is
 * named as such — the usual causes, a temporary object deleted or rewritten by a retried worker; anything else
 * keeps the SDK's error name, HTTP status and message.
 */
export function describeFailure(error: unknown, source?: { bucket: string; key: string; eTag?: string }): string {
  if (error instanceof ConcatError) return error.message;
  const { name, message, $metadata } = (error ?? {}) as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = $metadata?.httpStatusCode;
  if (source !== undefined) {
    const uri = s3Uri(source.bucket, source.key);
    if (name === 'NoSuchBucket') return `the bucket of ${uri} does not exist`;
    if (isNotFound(error)) return `${uri} does not exist`;
    if (name === 'PreconditionFailed' || status === 412) {
      return `${uri} changed since it was written: its ETag is no longer ${source.eTag}`;
    }
  }
  if (name === 'AbortError') return `stopped (${message ?? 'aborted'})`;
  const text = message !== undefined && message !== '' && message !== 'UnknownError' ? message : 'no message';
  return `${name ?? 'Error'}${status === undefined ? '' : ` (HTTP ${status})`}: ${text}`;
}
