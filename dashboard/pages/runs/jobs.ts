/**
 * The prime counts this dashboard started and is waiting on. The fan-out function answers only when the whole run
 * is done (it runs synchronously inside one invocation), so the dashboard holds the invocation and the page polls
 * this registry by a job id of the dashboard's own; the run id the dashboard chose for it says where the run's
 * progress.json is (./start.ts). In memory: a restarted dashboard forgets its jobs, but a finished run is in the
 * list anyway, read from S3.
 */
import { randomUUID } from 'node:crypto';
import { UserError } from '../../../lib/errors.ts';
import type { PrimesResult } from '../../../lib/primes/run.ts';

export interface RunJob {
  id: string;
  /** What was asked for, in words ("[100,000,000, 101,000,000) in 4 chunks on lambda"). */
  what: string;
  startedAt: number;
  /** The run's id, chosen before it started (its progress.json is under it). */
  runId?: string;
  state: 'running' | 'ok' | 'error';
  finishedAt?: number;
  result?: Pick<PrimesResult, 'runId' | 'count' | 'complete'> & { timelineError?: string };
  /** Why it failed, in words. */
  error?: string;
}

/** What the page's script is told. */
export interface JobView {
  state: RunJob['state'];
  what: string;
  elapsedMs: number;
  runId?: string;
  count?: number;
  complete?: boolean;
  timelineError?: string;
  error?: string;
}

export function errorInWords(error: unknown): string {
  if (error instanceof UserError) return `The run was refused: ${error.message}`;
  return `The run failed: ${(error as Error)?.message ?? String(error)}`;
}

export interface RunJobs {
  start: (what: string, run: () => Promise<PrimesResult>, runId?: string) => RunJob;
  get: (id: string) => RunJob | undefined;
  view: (job: RunJob, now?: number) => JobView;
}

/** A registry that keeps every running job and the latest `keepFinished` finished ones. */
export function createRunJobs(options: { keepFinished?: number; now?: () => number } = {}): RunJobs {
  const keep = options.keepFinished ?? 20;
  const now = options.now ?? Date.now;
  const jobs = new Map<string, RunJob>();

  function forgetOldFinished(): void {
    const finished = [...jobs.values()].filter((job) => job.state !== 'running');
    for (const job of finished.slice(0, Math.max(0, finished.length - keep))) jobs.delete(job.id);
  }

  return {
    start(what, run, runId) {
      const job: RunJob = {
        id: randomUUID(),
        what,
        startedAt: now(),
        state: 'running',
        ...(runId === undefined ? {} : { runId }),
      };
      jobs.set(job.id, job);
      // Through a promise, so a `run` that throws at once fails the job instead of the request that started it.
      Promise.resolve()
        .then(run)
        .then(
          (result) => {
            job.state = 'ok';
            job.result = {
              runId: result.runId,
              count: result.count,
              complete: result.complete,
              ...(result.timelineError === undefined ? {} : { timelineError: result.timelineError }),
            };
          },
          (error: unknown) => {
            job.state = 'error';
            job.error = errorInWords(error);
          },
        )
        .finally(() => {
          job.finishedAt = now();
          forgetOldFinished();
        });
      return job;
    },
    get: (id) => jobs.get(id),
    view(job, at = now()) {
      return {
        state: job.state,
        what: job.what,
        elapsedMs: (job.finishedAt ?? at) - job.startedAt,
        ...(job.runId === undefined ? {} : { runId: job.runId }),
        ...job.result,
        ...(job.error === undefined ? {} : { error: job.error }),
      };
    },
  };
}
