/**
 * The rig of the split-run suites: worker threads of the local fan-out backend standing in for rates-worker
 * Lambdas, against a local S3 server (their S3 client comes from the environment: clients.ts stubS3Env).
 */
import type { ParallelSetup } from '../../lib/rates/parallel/run.ts';

const REAL_WORKER = {
  module: new URL('../../lib/rates/parallel/worker.ts', import.meta.url),
  exportName: 'runRatesWorkerTask',
};

/** A deployment with workers: two threads running `worker` (default the real one), splitting as `split` says. */
export function localParallelSetup(
  split: Pick<ParallelSetup, 'aboveBytes' | 'chunkBytes'>,
  worker: { module: URL; exportName: string } = REAL_WORKER,
): ParallelSetup {
  return { ...split, backend: { name: 'local', ...worker, threads: 2 } };
}
