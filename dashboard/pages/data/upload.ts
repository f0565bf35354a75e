/**
 * POST /data/uploads?name=<file name>&numerator=…&denominator=…&bins=… with the file as the body: the browser hands
 * the file to the dashboard, which uploads it with the CLI's own code (lib/rates/client.ts submitRatesRun: the key
 * under uploads/, the run id and options as S3 metadata), so the stack's trigger runs it. The body is spooled to a
 * temporary file first because submitRatesRun streams a file, exactly as for `cloud-parallel rates FILE`.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { submitRatesRun, uploadKeyFor } from '../../../lib/rates/client.ts';
import { rateOptionsSchema } from '../../../lib/rates/options.ts';
import { formatBytes } from '../../../lib/units.ts';
import { sendError, sendJson } from '../../http.ts';
import type { RouteContext } from '../../routes.ts';

/** A browser upload beyond this is better sent with the CLI, which streams from disk without a second copy. */
export const MAX_UPLOAD_BYTES = 512 * 1024 * 1024;

const emptyIsUnset = (value: unknown) => (value === '' || value === null ? undefined : value);

const uploadQuery = z.object({
  name: z.string().trim().min(1, 'the file needs a name').max(255, 'the file name is over 255 characters'),
  numerator: z.preprocess(emptyIsUnset, rateOptionsSchema.shape.numerator.optional()),
  denominator: z.preprocess(emptyIsUnset, rateOptionsSchema.shape.denominator.optional()),
  bins: z.preprocess(emptyIsUnset, rateOptionsSchema.shape.bins.optional()),
});

class TooLarge extends Error {}

/** Counts the bytes going through and fails the pipeline past `limit`. */
function byteLimit(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      done(seen > limit ? new TooLarge() : null, chunk);
    },
  });
}

export async function handleUpload({ req, res, url, services }: RouteContext): Promise<void> {
  const parsed = uploadQuery.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    return sendError(req, res, 400, `The upload was refused: ${problems.join('; ')}`);
  }
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > MAX_UPLOAD_BYTES) return tooLarge(req, res);
  const { name, ...options } = parsed.data;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cp-dashboard-'));
  try {
    const file = path.join(dir, 'upload');
    try {
      await pipeline(req, byteLimit(MAX_UPLOAD_BYTES), createWriteStream(file));
    } catch (error) {
      if (error instanceof TooLarge) return tooLarge(req, res);
      throw error;
    }
    const definedOptions = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
    const run = await submitRatesRun(services.s3, {
      bucket: services.bucket,
      file,
      key: uploadKeyFor(name),
      options: definedOptions,
    });
    sendJson(res, 202, { key: run.key, runId: run.runId, resultPrefix: run.resultPrefix });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function tooLarge(req: RouteContext['req'], res: RouteContext['res']): void {
  sendError(
    req,
    res,
    413,
    `The file is over ${formatBytes(MAX_UPLOAD_BYTES)}: upload it with \`npx cloud-parallel rates FILE\` instead`,
  );
}
