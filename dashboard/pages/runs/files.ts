/**
 * GET /runs/files?run=<runId>&file=timeline.png: one file of a primes run (results/primes/<runId>/), read from S3 and
 * passed through, so the page's timeline image and links work without the browser ever holding S3 credentials.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { isNotFound } from '../../../lib/aws/s3.ts';
import { runIdSchema } from '../../../lib/primes/run-history.ts';
import { primesRunPrefix, RUN_FILE_NAMES, type RunFileName } from '../../../lib/primes/run-record.ts';
import { securityHeaders, sendError } from '../../http.ts';
import type { RouteContext } from '../../routes.ts';

const TYPES: Record<RunFileName, string> = {
  'timeline.json': 'application/json; charset=utf-8',
  'timeline.svg': 'image/svg+xml',
  'timeline.png': 'image/png',
  'summary.json': 'application/json; charset=utf-8',
};

const fileQuery = z.object({ run: runIdSchema, file: z.enum(RUN_FILE_NAMES) });

export async function handleRunFile({ req, res, url, services }: RouteContext): Promise<void> {
  const parsed = fileQuery.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) return sendError(req, res, 400, `Not a run file: ${parsed.error.issues[0]?.message}`);
  const { run, file } = parsed.data;
  const key = `${primesRunPrefix(run)}${file}`;
  let object: GetObjectCommandOutput;
  try {
    object = await services.s3.send(new GetObjectCommand({ Bucket: services.bucket, Key: key }));
  } catch (error) {
    if (isNotFound(error)) return sendError(req, res, 404, `s3://${services.bucket}/${key} is not there`);
    throw error;
  }
  // An SVG opened on its own is a document: the sandbox keeps any script in it from running (ours have none).
  securityHeaders(res, file === 'timeline.svg' ? "default-src 'none'; style-src 'unsafe-inline'; sandbox" : undefined);
  res.writeHead(200, {
    'Content-Type': TYPES[file],
    ...(object.ContentLength === undefined ? {} : { 'Content-Length': object.ContentLength }),
    'Content-Disposition': `inline; filename="${file}"`,
  });
  await pipeline(object.Body as Readable, res);
}
