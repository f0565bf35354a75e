import { runPrimesTask, type PrimesChunkResult } from './worker.ts';

/**
 * The primes worker as an EC2 instance runs it: bundled into one `.mjs` (lib/fanout/ec2/worker-bundle.ts) and
 * called by the user data with one chunk. The instance has no credentials, so a prime list too big for the
 * result object is an error here rather than a second S3 object.
 */
export function run(task: unknown): Promise<PrimesChunkResult> {
  return runPrimesTask(task);
}
