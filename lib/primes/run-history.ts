/**
 * The primes runs a bucket holds: every `results/primes/<runId>/summary.json` (./run-record.ts writes it last, so a
 * run listed here has its timeline beside it). What the dashboard's Runs page lists and what a `runs` command
 * could print; it reads S3 only, as the CLI does.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { readJsonObject } from '../rates/client.ts';
import { describeIssues } from '../validation.ts';
import { runIdSchema } from './run-id.ts';
import { type PrimesRunSummary, primesRunPrefix } from './run-record.ts';

export const PRIMES_RUNS_PREFIX = 'results/primes/';

// Re-exported: the dashboard checks the run ids it is given with the rule the listing applies.
export { runIdSchema };

const costSchema = z.discriminatedUnion('backend', [
  z.looseObject({ backend: z.literal('lambda'), requests: z.number(), gbSeconds: z.number(), usd: z.number() }),
  z.looseObject({
    backend: z.literal('ec2'),
    instanceType: z.string(),
    instances: z.number(),
    instanceSeconds: z.number(),
    billedSeconds: z.number(),
    usdPerHour: z.number(),
    usd: z.number(),
  }),
]);

/** summary.json as primesRunSummary writes it; checked because anyone with write access to the bucket can put one. */
export const primesRunSummarySchema = z.looseObject({
  runId: runIdSchema,
  startedAt: z.string(),
  start: z.number(),
  end: z.number(),
  backend: z.string(),
  count: z.number(),
  complete: z.boolean(),
  chunks: z.number(),
  failedChunks: z.number(),
  attempts: z.number(),
  coldStarts: z.number(),
  maxBusy: z.number(),
  wallMs: z.number(),
  workerMs: z.number(),
  speedup: z.number(),
  cost: costSchema.nullable(),
});

/** A listed run: its summary, or why its summary.json could not be read as one (shown, not hidden). */
export type PrimesRunEntry = { runId: string; summary: PrimesRunSummary } | { runId: string; problem: string };

const SUMMARY_KEY = /^results\/primes\/([^/]+)\/summary\.json$/;

/** The summary of one run, null when it has none (yet); an unreadable summary.json is an entry with a problem. */
export async function readPrimesRun(s3: S3Client, bucket: string, runId: string): Promise<PrimesRunEntry | null> {
  const key = `${primesRunPrefix(runIdSchema.parse(runId))}summary.json`;
  let raw: unknown;
  try {
    raw = await readJsonObject(s3, bucket, key);
  } catch (error) {
    if (error instanceof SyntaxError) return { runId, problem: `${key} is not JSON: ${error.message}` };
    throw error;
  }
  if (raw === null) return null;
  const parsed = primesRunSummarySchema.safeParse(raw);
  if (!parsed.success) return { runId, problem: `${key} is not a run summary: ${describeIssues(parsed.error)}` };
  // The cost's pricing fields are carried through as they were written (looseObject).
  return { runId, summary: parsed.data as PrimesRunSummary };
}

/** The run ids under results/primes/ that have a summary.json, with when it was written. */
async function listSummaryKeys(s3: S3Client, bucket: string): Promise<{ runId: string; writtenAt: number }[]> {
  const found: { runId: string; writtenAt: number }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: PRIMES_RUNS_PREFIX, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      const runId = SUMMARY_KEY.exec(object.Key ?? '')?.[1];
      if (runId !== undefined && runIdSchema.safeParse(runId).success)
        found.push({ runId, writtenAt: object.LastModified?.getTime() ?? 0 });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return found;
}

/** The latest `limit` runs, newest first (by the run's start; by when its summary was written if it has none). */
export async function listPrimesRuns(s3: S3Client, bucket: string, limit = 50): Promise<PrimesRunEntry[]> {
  const keys = await listSummaryKeys(s3, bucket);
  keys.sort((a, b) => b.writtenAt - a.writtenAt);
  const entries = await Promise.all(
    keys.slice(0, limit).map(async ({ runId, writtenAt }) => ({
      writtenAt,
      // Listed a moment ago; deleted since is a problem to show like any other.
      entry: (await readPrimesRun(s3, bucket, runId)) ?? { runId, problem: 'its summary.json is gone' },
    })),
  );
  const startedAt = ({ entry, writtenAt }: (typeof entries)[number]) =>
    'summary' in entry ? Date.parse(entry.summary.startedAt) || writtenAt : writtenAt;
  return entries.sort((a, b) => startedAt(b) - startedAt(a)).map(({ entry }) => entry);
}
