/** The S3 errors the local S3 server's front raises itself, rendered with s3rver's error XML (reply.ts). */
import type { GuardRefusal } from '../../shared/request-guard.ts';
import type { NameProblem } from '../state/names.ts';

/** S3's own answers to a request it does not authenticate (AWS answers a missing or page-sent one AccessDenied). */
export const S3_AUTH_ERRORS: Record<GuardRefusal['reason'], string> = {
  browser: 'AccessDenied',
  host: 'AccessDenied',
  missing: 'AccessDenied',
  malformed: 'AccessDenied',
  expired: 'AccessDenied',
  'unknown-key': 'InvalidAccessKeyId',
  'bad-signature': 'SignatureDoesNotMatch',
};

/** An S3 error raised by the front (rendered with s3rver's error XML). */
export class FrontError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function frontProblem(problem: NameProblem, detail: Record<string, unknown>): FrontError {
  return new FrontError(problem.code, problem.message, detail);
}

export function malformedChunk(why: string): FrontError {
  return new FrontError('InvalidRequest', `Malformed aws-chunked body: ${why}.`);
}

export function incompleteBody(): FrontError {
  return new FrontError(
    'IncompleteBody',
    'You did not provide the number of bytes specified by the Content-Length HTTP header.',
  );
}

export function malformedXml(): FrontError {
  return new FrontError(
    'MalformedXML',
    'The XML you provided was not well-formed or did not validate against our published schema.',
  );
}

export function noSuchUpload(uploadId: string): FrontError {
  return new FrontError(
    'NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
    { UploadId: uploadId },
  );
}
