/**
 * A split run's progress, for whoever waits on it (the CLI): the coordinator puts it to
 * `runs/rates/<run id>/progress.json` — at most once per interval, and at every change of phase — and deletes it at
 * the end. The run id is the one the client chose (upload metadata), so the client knows where to look without
 * listing. Progress is advisory: a failed write is logged once and never fails the run.
 */
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { isNotFound } from '../../aws/s3.ts';
import { asLoggable, logger } from '../../observability.ts';
import type { ParallelProgress } from './coordinator.ts';
import { runIdSegment } from './scratch.ts';
import { SCRATCH_PREFIX } from './tasks.ts';

export const progressSchema = z.object({
  phase: z.enum(['parse', 'rerun', 'stats', 'concat']),
  chunks: z.number().int().min(0),
  done: z.number().int().min(0),
  bytesDone: z.number().min(0),
  bytesTotal: z.number().min(0),
  elapsedMs: z.number().min(0),
});
export type RatesProgress = z.infer<typeof progressSchema>;

/** Where the progress of the run `runId` is kept; null for a run id that is not a plain key segment. */
export function progressKey(runId: string | null): string | null {
  const segment = runIdSegment(runId);
  return segment === null ? null : `${SCRATCH_PREFIX}${segment}/progress.json`;
}

export interface ProgressWriter {
  report(progress: ParallelProgress): void;
  /** Resolves once every write reported so far has landed (or failed). */
  settled(): Promise<void>;
  /** Waits for the last write, then deletes the object. */
  close(): Promise<void>;
}

export function progressWriter(s3: S3Client, bucket: string, key: string, intervalMs = 1000): ProgressWriter {
  const started = performance.now();
  let latest: RatesProgress | null = null;
  let lastPhase: string | null = null;
  let lastWrite = -Infinity;
  let writing: Promise<void> = Promise.resolve();
  let warned = false;
  const write = (progress: RatesProgress): void => {
    lastWrite = performance.now();
    // One PUT at a time, in order: the object never goes back to an older state.
    writing = writing.then(() =>
      s3
        .send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: JSON.stringify(progress),
            ContentType: 'application/json',
          }),
        )
        .then(
          () => undefined,
          (error: unknown) => {
            if (!warned)
              logger.warn('could not write the progress of a parallel rates run', { key, error: asLoggable(error) });
            warned = true;
          },
        ),
    );
  };
  return {
    report(progress) {
      latest = { ...progress, elapsedMs: Math.round(performance.now() - started) };
      const now = performance.now();
      if (progress.phase !== lastPhase || now - lastWrite >= intervalMs) {
        lastPhase = progress.phase;
        write(latest);
      }
    },
    settled: () => writing,
    async close() {
      await writing;
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch((error: unknown) => {
        logger.warn('could not delete the progress of a parallel rates run', { key, error: asLoggable(error) });
      });
    },
  };
}

/** The run's latest progress, or null when there is none (not split, not started, or over). */
export async function readProgress(s3: S3Client, bucket: string, runId: string): Promise<RatesProgress | null> {
  const key = progressKey(runId);
  if (key === null) return null;
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const parsed = progressSchema.safeParse(JSON.parse(await object.Body!.transformToString()));
    return parsed.success ? parsed.data : null;
  } catch (error) {
    if (isNotFound(error) || error instanceof SyntaxError) return null;
    throw error;
  }
}
