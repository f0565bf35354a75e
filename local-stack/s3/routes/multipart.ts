/**
 * Multipart uploads: UploadPart and CompleteMultipartUpload are checked here and passed to s3rver;
 * AbortMultipartUpload (which s3rver lacks) is answered here. A missing part would crash s3rver's completion.
 */
import { promises as fsp } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { elements, firstElement } from '../../shared/xml.ts';
import { FrontError, malformedXml } from '../protocol/errors.ts';
import { bodyOf, bufferedBody } from '../protocol/request-body.ts';
import { requireUpload } from '../state/uploads.ts';
import type { S3Front } from './front.ts';

const MIN_PART_SIZE = 5 * 1024 * 1024;

export async function handleUploadPart(
  front: S3Front,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  bucket: string,
  key: string,
  query: URLSearchParams,
): Promise<void> {
  const partNumber = query.get('partNumber') ?? '';
  if (!/^\d+$/.test(partNumber) || Number(partNumber) < 1 || Number(partNumber) > 10000) {
    throw new FrontError('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', {
      ArgumentName: 'partNumber',
      ArgumentValue: partNumber,
    });
  }
  await requireUpload(front.store, bucket, key, query.get('uploadId') ?? '');
  return front.toS3rver(req, res, bodyOf(req));
}

export async function handleComplete(
  front: S3Front,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  bucket: string,
  key: string,
  query: URLSearchParams,
): Promise<void> {
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
  const parts: CompletedPart[] = elements(xmlBody, 'Part').map((part) => ({
    number: Number(firstElement(part, 'PartNumber')),
    eTag: (firstElement(part, 'ETag') ?? '').replace(/"/g, '').trim(),
  }));
  if (parts.length === 0) throw malformedXml();
  let previous = 0;
  for (const [index, part] of parts.entries()) {
    if (!Number.isInteger(part.number) || part.number < 1 || part.number > 10000) throw malformedXml();
    if (part.number <= previous) {
      throw new FrontError(
        'InvalidPartOrder',
        'The list of parts was not in ascending order. The parts list must be specified in order by part number.',
        {
          UploadId: uploadId,
        },
      );
    }
    previous = part.number;
    await checkPart(dir, uploadId, part, index === parts.length - 1);
  }
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
    throw new FrontError('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', {
      ProposedSize: size,
      MinSizeAllowed: MIN_PART_SIZE,
      PartNumber: part.number,
      ETag: part.eTag,
    });
  }
}
