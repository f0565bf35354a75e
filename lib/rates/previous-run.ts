/**
 * The duplicate check (see "DUPLICATES" in publish.ts): summary.json of an earlier run, read back and compared
 * with this run.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { isNotFound } from '../aws/s3.ts';
import type { RateOptions } from './options.ts';
import type { RatesSummary } from './outcome.ts';

/** summary.json of an earlier run, or null when there is none (or it is unreadable: the run then recomputes it). */
export async function readSummary(s3: S3Client, bucket: string, key: string): Promise<RatesSummary | null> {
  let text: string;
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = await (object.Body as Readable & { transformToString(): Promise<string> }).transformToString();
  } catch (error) {
    // Without s3:ListBucket (the function has none on results/), S3 answers a missing key with 403, not 404.
    if (isNotFound(error) || isAccessDenied(error)) return null;
    throw error;
  }
  try {
    const parsed = storedSummarySchema.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data as unknown as RatesSummary) : null;
  } catch {
    return null;
  }
}

/** What a duplicate check reads in summary.json; the rest is returned as stored. */
const storedSummarySchema = z.looseObject({
  status: z.literal('ok'),
  runId: z.string().nullable(),
  input: z.looseObject({ bucket: z.string(), key: z.string(), eTag: z.string().nullable() }),
  options: z.object({ numerator: z.string(), denominator: z.string(), bins: z.number() }),
});

export function isSameRun(
  summary: RatesSummary,
  run: { bucket: string; key: string; eTag: string | null; runId: string | null; options: RateOptions },
): boolean {
  return (
    run.eTag !== null &&
    summary.input.eTag === run.eTag &&
    summary.input.bucket === run.bucket &&
    summary.input.key === run.key &&
    summary.runId === run.runId &&
    summary.options.numerator === run.options.numerator &&
    summary.options.denominator === run.options.denominator &&
    summary.options.bins === run.options.bins
  );
}

function isAccessDenied(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === 'AccessDenied' || $metadata?.httpStatusCode === 403;
}
