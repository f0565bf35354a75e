/**
 * The scrapes started from the page, while the dashboard runs: each is one invocation of the scrape function, which
 * the page follows by its id (reloading until it is done) and then shows the outcome of, in words. Kept in memory:
 * a finished run is in `scrape_runs` for good; this only bridges the time until the reply. The latest
 * MAX_KEPT_JOBS are kept.
 */
import { randomUUID } from 'node:crypto';
import type { ScrapeInput } from '../../../lib/scrape/input.ts';
import type { ScrapeResult } from '../../../lib/scrape/run.ts';

export const MAX_KEPT_JOBS = 50;

export type ScrapeJob = { id: string; input: ScrapeInput; startedAt: Date } & (
  | { state: 'running' }
  | { state: 'done'; result: ScrapeResult; endedAt: Date }
  | { state: 'failed'; error: { code: string; message: string }; endedAt: Date }
);

export interface ScrapeJobs {
  start(input: ScrapeInput): ScrapeJob;
  get(id: string): ScrapeJob | undefined;
}

/** What went wrong, as the page words it: the error's code when it has one (a UserError, an AWS error's name). */
function describeFailure(error: unknown): { code: string; message: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : error.name, message: error.message };
  }
  return { code: 'Error', message: String(error) };
}

export function createScrapeJobs(
  run: (input: ScrapeInput) => Promise<ScrapeResult>,
  log: (line: string) => void = () => undefined,
): ScrapeJobs {
  const jobs = new Map<string, ScrapeJob>();
  const keep = (job: ScrapeJob): void => {
    jobs.set(job.id, job);
    // A Map iterates in insertion order: the first key is the oldest job.
    while (jobs.size > MAX_KEPT_JOBS) jobs.delete(jobs.keys().next().value!);
  };
  return {
    start: (input) => {
      const job: ScrapeJob = { id: randomUUID(), input, startedAt: new Date(), state: 'running' };
      keep(job);
      run(input).then(
        (result) => {
          if (jobs.has(job.id)) jobs.set(job.id, { ...job, state: 'done', result, endedAt: new Date() });
        },
        (error: unknown) => {
          const failure = describeFailure(error);
          log(`scrape ${job.id} failed: ${failure.code}: ${failure.message}`);
          if (jobs.has(job.id)) jobs.set(job.id, { ...job, state: 'failed', error: failure, endedAt: new Date() });
        },
      );
      return job;
    },
    get: (id) => jobs.get(id),
  };
}
