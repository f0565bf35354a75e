/**
 * GET /runs/files?run=<runId>&file=timeline.png: one file of a primes run (results/primes/<runId>/), read from S3 and
 * passed through (dashboard/s3-file.ts).
 */
import { z } from 'zod';
import { runIdSchema } from '../../../lib/primes/run-history.ts';
import { primesRunPrefix, RUN_FILE_NAMES, type RunFileName } from '../../../lib/primes/run-record.ts';
import { sendError } from '../../http.ts';
import { sendS3File } from '../../s3-file.ts';
import type { RouteContext } from '../../routes.ts';

const TYPES: Record<RunFileName, string> = {
  'timeline.json': 'application/json; charset=utf-8',
  'timeline.svg': 'image/svg+xml',
  'timeline.png': 'image/png',
  'summary.json': 'application/json; charset=utf-8',
};

const fileQuery = z.object({ run: runIdSchema, file: z.enum(RUN_FILE_NAMES) });

export async function handleRunFile(context: RouteContext): Promise<void> {
  const { req, res, url } = context;
  const parsed = fileQuery.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) return sendError(req, res, 400, `Not a run file: ${parsed.error.issues[0]?.message}`);
  const { run, file } = parsed.data;
  const key = `${primesRunPrefix(run)}${file}`;
  return sendS3File(context, { key, name: file, contentType: TYPES[file] });
}
