/**
 * GET /data/files?upload=uploads/<name>.csv&file=histogram.png: one result file of an upload, read from S3 and passed
 * through (dashboard/s3-file.ts).
 */
import { z } from 'zod';
import { RESULT_FILES, type ResultFile } from '../../../lib/rates/history.ts';
import { resultPrefixFor } from '../../../lib/rates/upload-keys.ts';
import { sendError } from '../../http.ts';
import { sendS3File } from '../../s3-file.ts';
import type { RouteContext } from '../../routes.ts';

const TYPES: Record<ResultFile, string> = {
  'rates.csv': 'text/csv; charset=utf-8',
  'histogram.png': 'image/png',
  'histogram.svg': 'image/svg+xml',
  'summary.json': 'application/json; charset=utf-8',
  'error.json': 'application/json; charset=utf-8',
  'timeline.png': 'image/png',
  'timeline.svg': 'image/svg+xml',
  'timeline.json': 'application/json; charset=utf-8',
};

export const fileQuery = z.object({
  upload: z.string().refine((key) => resultPrefixFor(key) !== null, 'must be an upload key (uploads/<name>.csv)'),
  file: z.enum(RESULT_FILES),
});

export async function handleFile(context: RouteContext): Promise<void> {
  const { req, res, url } = context;
  const parsed = fileQuery.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) return sendError(req, res, 400, `Not a result file: ${parsed.error.issues[0]?.message}`);
  const { upload, file } = parsed.data;
  const key = `${resultPrefixFor(upload)}${file}`;
  return sendS3File(context, { key, name: file, contentType: TYPES[file], attachment: file === 'rates.csv' });
}
