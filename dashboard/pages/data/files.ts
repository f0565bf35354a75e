/**
 * GET /data/files?upload=uploads/<name>.csv&file=histogram.png: one result file of an upload, read from S3 and passed
 * through, so the page's image and links work without the browser ever holding S3 credentials.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { isNotFound } from '../../../lib/aws/s3.ts';
import { RESULT_FILES, type ResultFile } from '../../../lib/rates/history.ts';
import { resultPrefixFor } from '../../../lib/rates/job.ts';
import { securityHeaders, sendError } from '../../http.ts';
import type { RouteContext } from '../../routes.ts';

const TYPES: Record<ResultFile, string> = {
  'rates.csv': 'text/csv; charset=utf-8',
  'histogram.png': 'image/png',
  'histogram.svg': 'image/svg+xml',
  'summary.json': 'application/json; charset=utf-8',
  'error.json': 'application/json; charset=utf-8',
};

export const fileQuery = z.object({
  upload: z.string().refine((key) => resultPrefixFor(key) !== null, 'must be an upload key (uploads/<name>.csv)'),
  file: z.enum(RESULT_FILES),
});

export async function handleFile({ req, res, url, services }: RouteContext): Promise<void> {
  const parsed = fileQuery.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) return sendError(req, res, 400, `Not a result file: ${parsed.error.issues[0]?.message}`);
  const { upload, file } = parsed.data;
  const key = `${resultPrefixFor(upload)}${file}`;
  let object: GetObjectCommandOutput;
  try {
    object = await services.s3.send(new GetObjectCommand({ Bucket: services.bucket, Key: key }));
  } catch (error) {
    if (isNotFound(error)) return sendError(req, res, 404, `s3://${services.bucket}/${key} is not there`);
    throw error;
  }
  // An SVG opened on its own is a document: the sandbox keeps any script in it from running (ours have none).
  securityHeaders(res, file === 'histogram.svg' ? "default-src 'none'; style-src 'unsafe-inline'; sandbox" : undefined);
  res.writeHead(200, {
    'Content-Type': TYPES[file],
    ...(object.ContentLength === undefined ? {} : { 'Content-Length': object.ContentLength }),
    'Content-Disposition': `${file === 'rates.csv' ? 'attachment' : 'inline'}; filename="${file}"`,
  });
  await pipeline(object.Body as Readable, res);
}
