/**
 * One object of the data bucket passed through to the browser (a result file, a run's timeline), so the pages' images
 * and links work without the browser ever holding S3 credentials. Each page says which keys it serves; this is how.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { isNotFound } from '../lib/aws/s3.ts';
import { securityHeaders, sendError } from './http.ts';
import type { RouteContext } from './routes.ts';

/** An SVG opened on its own is a document: the sandbox keeps any script in it from running (ours have none). */
const SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

export interface ServedFile {
  key: string;
  /** The name the browser saves it under. */
  name: string;
  contentType: string;
  /** A download (rates.csv) rather than shown in the tab. */
  attachment?: boolean;
}

export async function sendS3File({ req, res, services }: RouteContext, file: ServedFile): Promise<void> {
  let object: GetObjectCommandOutput;
  try {
    object = await services.s3.send(new GetObjectCommand({ Bucket: services.bucket, Key: file.key }));
  } catch (error) {
    if (isNotFound(error)) return sendError(req, res, 404, `s3://${services.bucket}/${file.key} is not there`);
    throw error;
  }
  securityHeaders(res, file.contentType === 'image/svg+xml' ? SVG_POLICY : undefined);
  res.writeHead(200, {
    'Content-Type': file.contentType,
    ...(object.ContentLength === undefined ? {} : { 'Content-Length': object.ContentLength }),
    'Content-Disposition': `${file.attachment === true ? 'attachment' : 'inline'}; filename="${file.name}"`,
  });
  await pipeline(object.Body as Readable, res);
}
