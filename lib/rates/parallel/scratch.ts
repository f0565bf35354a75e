/**
 * A parallel run's scratch objects: where each chunk's outputs go, and their deletion once the run is committed
 * or abandoned. Keys are a function of the task (chunk index and first record start), so every attempt of one
 * task writes the same two objects and the coordinator knows every key it may have to delete without listing
 * (the rates role has no s3:ListBucket). What a crash leaves, the bucket's lifecycle rule for runs/ expires.
 */
import { DeleteObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { SCRATCH_PREFIX } from './tasks.ts';

/** `runs/rates/<run>/`, for a run id that is a safe key segment (the client's UUID), else a fresh one. */
export function scratchPrefixFor(runId: string | null): string {
  const id = runId !== null && /^[A-Za-z0-9_-]{1,64}$/.test(runId) ? runId : crypto.randomUUID();
  return `${SCRATCH_PREFIX}${id}/${crypto.randomUUID()}/`;
}

/** The two objects chunk `index` writes when it starts at `first` (a byte offset, or `g` for a guess). */
export function scratchKeys(prefix: string, index: number, first: number | 'g'): { csv: string; values: string } {
  return { csv: `${prefix}csv/${index}-${first}`, values: `${prefix}values/${index}-${first}` };
}

/** DeleteObjects in batches of 1,000 (its limit); a key that is not there counts as deleted. */
export async function deleteScratch(s3: S3Client, bucket: string, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
    const reply = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch, Quiet: true } }));
    if (reply.Errors !== undefined && reply.Errors.length > 0) {
      const first = reply.Errors[0];
      throw new Error(
        `could not delete ${reply.Errors.length} scratch object(s) of s3://${bucket}/${keys[0]?.split('/').slice(0, 4).join('/')}/ (first: ${first?.Key}: ${first?.Code} ${first?.Message}); the lifecycle rule for runs/ expires them within a day`,
      );
    }
  }
}
