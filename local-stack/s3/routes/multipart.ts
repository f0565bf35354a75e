/**
 * Multipart uploads: UploadPart and CompleteMultipartUpload are checked here and passed to s3rver;
 * AbortMultipartUpload (which s3rver lacks) is answered here. A missing part would crash s3rver's completion.
 * UploadPartCopy (which s3rver lacks too) is in upload-part-copy.ts.
 *
 * The limits are AWS's ("Amazon S3 multipart upload limits"; CompleteMultipartUpload's errors): part numbers
 * 1 to 10,000, at most 10,000 parts, each part but the last at least 5 MiB (checked at completion, since only
 * then is it known which part is last), parts listed in ascending order with the ETags their uploads answered.
 */
import { promises as fsp } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { elements, firstElement } from '../../shared/xml.ts';
import { FrontError, malformedXml } from '../protocol/errors.ts';
import { bodyOf, bufferedBody } from '../protocol/request-body.ts';
import { requireUpload } from '../state/uploads.ts';
import type { ObjectRequest, S3Front } from './front.ts';

export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;

/** A part number as UploadPart, UploadPartCopy and CompleteMultipartUpload accept it: an integer from 1 to 10,000. */
export function checkPartNumber(raw: string): number {
  if (!/^\d{1,5}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_PARTS) {
    throw new FrontError('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', {
      ArgumentName: 'partNumber',
      ArgumentValue: raw.slice(0, 200),
    });
  }
  return Number(raw);
}

export async function handleUploadPart(front: S3Front, { req, res, bucket, key, query }: ObjectRequest): Promise<void> {
  checkPartNumber(query.get('partNumber') ?? '');
  await requireUpload(front.store, bucket, key, query.get('uploadId') ?? '');
  return front.toS3rver(req, res, bodyOf(req));
}

export async function handleComplete(front: S3Front, { req, res, bucket, key, query }: ObjectRequest): Promise<void> {
  const uploadId = query.get('uploadId') ?? '';
  const dir = await requireUpload(front.store, bucket, key, uploadId);
  const body = await bufferedBody(req, 2 * 1024 * 1024);
  await validateCompletion(dir, uploadId, body.content.toString('utf8'));
  return front.toS3rver(req, res, body);
}

export async function handleAbort(
  front: S3Front,
  res: http.ServerResponse,
  bucket: string,
  key: string,
  uploadId: string,
): Promise<void> {
  const dir = await requireUpload(front.store, bucket, key, uploadId);
  await fsp.rm(dir, { recursive: true, force: true });
  res.statusCode = 204;
  res.end();
}

interface CompletedPart {
  number: number;
  eTag: string;
}

/** Checks a completion's part list against the parts on disk: order, ETags, and the minimum part size. */
async function validateCompletion(dir: string, uploadId: string, xmlBody: string): Promise<void> {
  if (!/<CompleteMultipartUpload[\s>]/.test(xmlBody)) throw malformedXml();
  const listed = elements(xmlBody, 'Part');
  if (listed.length === 0) throw malformedXml();
  if (listed.length > MAX_PARTS) {
    throw new FrontError(
      'InvalidArgument',
      `A multipart upload has at most ${MAX_PARTS} parts; the request lists ${listed.length}.`,
      {
        ArgumentName: 'Part',
        ArgumentValue: listed.length,
      },
    );
  }
  const parts: CompletedPart[] = listed.map((part) => {
    const number = (firstElement(part, 'PartNumber') ?? '').trim();
    // Not a number at all: the document does not follow the schema. A number out of range: AWS's InvalidArgument.
    if (!/^-?\d+$/.test(number)) throw malformedXml();
    return { number: checkPartNumber(number), eTag: (firstElement(part, 'ETag') ?? '').replace(/"/g, '').trim() };
  });
  // The list as a whole first: a list out of order is InvalidPartOrder whatever its parts hold.
  if (parts.some((part, index) => index > 0 && part.number <= (parts[index - 1]?.number ?? 0))) {
    throw new FrontError(
      'InvalidPartOrder',
      'The list of parts was not in ascending order. The parts list must be specified in order by part number.',
      {
        UploadId: uploadId,
      },
    );
  }
  for (const [index, part] of parts.entries()) await checkPart(dir, uploadId, part, index === parts.length - 1);
}

async function checkPart(dir: string, uploadId: string, part: CompletedPart, last: boolean): Promise<void> {
  const partPath = path.join(dir, String(part.number));
  const invalidPart = new FrontError(
    'InvalidPart',
    "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.",
    { UploadId: uploadId, PartNumber: part.number, ETag: part.eTag },
  );
  let size: number;
  let md5: string;
  try {
    size = (await fsp.stat(partPath)).size;
    md5 = (await fsp.readFile(`${partPath}.md5`, 'utf8')).trim();
  } catch {
    throw invalidPart;
  }
  if (part.eTag !== md5) throw invalidPart;
  if (!last && size < MIN_PART_SIZE) {
    // The message as S3 sends it (its error-code table words it "...minimum allowed object size."), with the
    // elements S3 adds: the part's size, the minimum, and which part.
    throw new FrontError('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', {
      ProposedSize: size,
      MinSizeAllowed: MIN_PART_SIZE,
      PartNumber: part.number,
      ETag: part.eTag,
    });
  }
}
