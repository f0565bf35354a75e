/**
 * ETag preconditions as AWS S3 evaluates them: `If-Match` on GetObject/HeadObject and `x-amz-copy-source-if-match` on
 * UploadPartCopy hold when the object's current ETag is one of those listed (quoted or not) or the value is `*`;
 * otherwise the request fails with 412 PreconditionFailed, naming the condition. s3rver ignores If-Match (it reads
 * only If-None-Match and If-Modified-Since), so the front checks it before handing a GET on.
 */
import { FrontError } from './errors.ts';

const unquote = (eTag: string): string =>
  eTag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');

export function eTagMatches(condition: string, eTag: string): boolean {
  const current = unquote(eTag);
  return condition.split(',').some((listed) => listed.trim() === '*' || unquote(listed) === current);
}

/** Throws PreconditionFailed unless `condition` (when given) matches `eTag`; `name` is the header, as AWS reports it. */
export function checkIfMatch(condition: string | undefined, eTag: string, name: string): void {
  if (condition === undefined || eTagMatches(condition, eTag)) return;
  throw new FrontError('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
    Condition: name,
  });
}
