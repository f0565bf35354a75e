/**
 * The one error policy of every handler, as a middy middleware:
 *   - a UserError (lib/errors.ts) becomes the reply `{error: {code, message}}`, recorded as a rejection (the
 *     InvalidInput metric and an "input rejected" WARN line): the caller sent something the job refuses;
 *   - anything else is recorded as the job's failure ("<job> invocation failed" at ERROR, or the job's own recorder)
 *     and rethrown, so Lambda reports it (and retries it, for asynchronous events).
 * A handler that must fail on a UserError from some step instead (a worker, so the fan-out names the chunk that
 * failed; the fan-out's run, where a UserError means a broken deployment, not a refused input) passes that step's
 * promise through {@link failsInvocation}.
 *
 * Use it after observability(): middy runs `onError` in reverse order, so it records while the request's log keys
 * are still set, and the metrics middleware then flushes what it recorded.
 *
 *   middy(handler).use(observability()).use(jobErrors({ job: 'scrape' }))
 */
import type middy from '@middy/core';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { UserError } from '../errors.ts';
import { asLoggable, jobMetrics, logger, metrics, type Job } from '../observability.ts';

export interface JobErrorsOptions {
  /** The `job` dimension and log field. */
  job: Job;
  /** Records an error that fails the invocation; default: {@link logFailure}. */
  recordFailure?: (error: unknown) => void;
}

/** What a refused event is answered with. */
export interface Rejected {
  error: { code: string; message: string };
}

const add = jobMetrics({ InvalidInput: MetricUnit.Count });

/** Errors that fail the invocation even though they are UserErrors (see {@link failsInvocation}). */
const failures = new WeakSet<object>();

/** Passes `step`'s result through; a UserError it throws fails the invocation instead of being answered. */
export function failsInvocation<T>(step: Promise<T>): Promise<T> {
  return step.catch((error: unknown) => {
    if (typeof error === 'object' && error !== null) failures.add(error);
    throw error;
  });
}

export function jobErrors({
  job,
  recordFailure = (error) => logFailure(job, error),
}: JobErrorsOptions): middy.MiddlewareObj<unknown, unknown> {
  return {
    onError(request) {
      const { error } = request;
      if (error instanceof UserError && !failures.has(error)) {
        const reply: Rejected = { error: { code: error.code, message: error.message } };
        recordRejected(job, reply.error);
        // Set, not returned: a returned value would stop the other onError middlewares (the metrics flush).
        request.response = reply;
        return;
      }
      recordFailure(error);
    },
  };
}

/** An event the handler answered with an error object instead of running the job. */
export function recordRejected(job: Job, error: { code: string; message: string }): void {
  metrics.addDimension('job', job);
  add('InvalidInput', 1);
  logger.warn('input rejected', { job, error: { code: error.code, message: error.message } });
}

/** An invocation that throws: logged at ERROR with the error, before it is rethrown. */
export function logFailure(job: Job, error: unknown): void {
  logger.error(`${job} invocation failed`, { error: asLoggable(error) });
}
