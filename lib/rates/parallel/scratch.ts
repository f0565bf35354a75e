/**
 * A parallel run's scratch objects: where each chunk's outputs go, and their deletion once the run is committed
 * or abandoned. Keys are a function of the task (chunk index and first record start), so every attempt of one
 * task writes the same two objects and the coordinator knows every key it may have to delete without listing
 * (the rates role has no s3:ListBucket). What a crash leaves, the bucket's lifecycle rule for runs/ expires.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { deleteObjects } from '../../aws/s3.ts';
import { SCRATCH_PREFIX } from './tasks.ts';

/** The client's run id when it is a plain key segment (its UUID), to name a run's objects under runs/rates/. */
export function runIdSegment(runId: string | null): string | null {
  return runId !== null && /^[A-Za-z0-9_-]{1,64}$/.test(runId) ? runId : null;
}

/** `runs/rates/<run>/<attempt>/`: the run id when it is a plain key segment, else a fresh one. */
export function scratchPrefixFor(runId: string | null): string {
  return `${SCRATCH_PREFIX}${runIdSegment(runId) ?? crypto.randomUUID()}/${crypto.randomUUID()}/`;
}

/** The two objects chunk `index` writes when it starts at `first` (a byte offset, or `g` for a guess). */
export function scratchKeys(prefix: string, index: number, first: number | 'g'): { csv: string; values: string } {
  return { csv: `${prefix}csv/${index}-${first}`, values: `${prefix}values/${index}-${first}` };
}

/** Deletes the run's scratch objects by key; a key that is not there counts as deleted. */
export async function deleteScratch(s3: S3Client, bucket: string, keys: readonly string[]): Promise<void> {
  const failed = await deleteObjects(s3, bucket, keys);
  const first = failed[0];
  if (first === undefined) return;
  throw new Error(
    `could not delete ${failed.length} scratch object(s) of s3://${bucket}/${keys[0]?.split('/').slice(0, 4).join('/')}/ (first: ${first.Key}: ${first.Code} ${first.Message}); the lifecycle rule for runs/ expires them within a day`,
  );
}
