import middy from '@middy/core';
import { createLambdaClient } from '../lib/aws/lambda.ts';
import { loadPrimesConfig } from '../lib/config.ts';
import { UserError } from '../lib/errors.ts';
import { lambdaBackend } from '../lib/fanout/lambda-backend.ts';
import { parsePrimesRunInput, runPrimesFanout } from '../lib/primes/fanout-job.ts';
import type { PrimesChunkResult, PrimesTask } from '../lib/primes/worker.ts';

// Created once per container and reused by every invocation it serves.
const lambda = createLambdaClient();
const config = loadPrimesConfig();

/** `{start, end, chunks | chunkSize, backend?, concurrency?}` → the exact count, per-chunk timings, speedup and cost. */
export const handler = middy(async (event: unknown) => {
  let input;
  try {
    input = parsePrimesRunInput(event);
  } catch (error) {
    if (error instanceof UserError) return { error: { code: error.code, message: error.message } };
    throw error;
  }
  if (input.backend !== 'lambda') {
    return { error: { code: 'INVALID_INPUT', message: `backend "${input.backend}" runs only from the CLI; the fan-out Lambda uses backend "lambda"` } };
  }
  const backend = lambdaBackend<PrimesTask, PrimesChunkResult>({ client: lambda, functionName: config.workerFunction });
  return runPrimesFanout(input, backend, { pricing: config.pricing });
});
