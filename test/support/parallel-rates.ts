/**
 * The rig of the split-run suites: worker threads of the local fan-out backend standing in for rates-worker
 * Lambdas, against a local S3 server.
 */
import { vi } from 'vitest';
import type { ParallelSetup } from '../../lib/rates/parallel/run.ts';
import { TEST_CREDENTIALS } from './signing.ts';

/**
 * Points the S3 client each worker thread builds from its environment (as a Lambda does) at `endpoint`. A thread
 * copies the environment when it starts, so call this before the first split run; undo with vi.unstubAllEnvs().
 */
export function stubWorkerS3Env(endpoint: string): void {
  const env = {
    AWS_ENDPOINT_URL_S3: endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
  };
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
}

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
