import type { S3Client } from '@aws-sdk/client-s3';
import type { RatesDefaults, RatesLimits } from '../config.ts';
import { InfrastructureError } from '../errors.ts';
import { runRatesJob, type RatesJobHooks, type RatesJobInput, type RatesJobOutcome } from './job.ts';

export { runRatesJob, resolveOptions, isAlreadyProcessed } from './job.ts';
export { resultPrefixFor, isCompressedUpload, UPLOADS_PREFIX, RESULTS_PREFIX, METADATA } from './upload-keys.ts';
export type {
  RatesJobHooks,
  RatesJobInput,
  RatesJobOutcome,
  RatesSummary,
  RatesAlreadyProcessed,
  RatesErrorReport,
  JobErrorCode,
} from './job.ts';
export type { RateOptions } from './options.ts';
export type { BadRow } from './bad-rows.ts';

export interface RatesBatchReply {
  results: RatesJobOutcome[];
}

/** Raised after every record was tried, when some failed for reasons a retry may fix (S3 errors, ...). */
export class RatesBatchError extends InfrastructureError {
  constructor(
    message: string,
    readonly failures: { key: string; error: unknown }[],
    readonly completed: RatesJobOutcome[],
  ) {
    super(message);
    this.name = 'RatesBatchError';
  }

  override get code(): string {
    return 'RETRYABLE_FAILURES';
  }
}

/**
 * Runs the job for each object in turn (each run is CPU-bound, so running them side by side in one
 * Lambda would only add memory). One record's failure never stops the others: bad files become error
 * outcomes, and unexpected failures are collected and raised together at the end so Lambda retries
 * the event — safe, because a run's outputs are a pure function of its input.
 */
export async function runRatesJobs(
  s3: S3Client,
  inputs: RatesJobInput[],
  defaults: RatesDefaults,
  limits?: RatesLimits,
  hooks?: RatesJobHooks,
): Promise<RatesBatchReply> {
  const results: RatesJobOutcome[] = [];
  const failures: { key: string; error: unknown }[] = [];
  for (const input of inputs) {
    try {
      results.push(await runRatesJob(s3, input, defaults, limits, hooks));
    } catch (error) {
      failures.push({ key: input.key, error });
    }
  }
  if (failures.length > 0) {
    const detail = failures.map(({ key, error }) => `${key}: ${(error as Error).message ?? String(error)}`).join('; ');
    throw new RatesBatchError(
      `${failures.length} of ${inputs.length} rates run(s) failed and will be retried: ${detail}`,
      failures,
      results,
    );
  }
  return { results };
}
