/**
 * Where each scrape run's outcome is kept, so the dashboard (and anyone with the MongoDB URI) can see the last runs:
 * one small document per run in the `scrape_runs` collection of the scraper's database. The run's counts only, not
 * its records (those are in the source's collection) and at most a few failures (the result lists them all).
 *
 * Idempotent: the document's `_id` is the run's id, written with a replace-or-insert, so a run recorded twice (a
 * Lambda retry of the same invocation carries the same request id; a write retried after a lost reply) is one
 * document.
 */
import type { Collection, Db } from 'mongodb';
import type { ScrapeInput } from './input.ts';
import type { ScrapeResult } from './run.ts';
import { SCRAPE_WRITE_CONCERN } from './store.ts';

export const SCRAPE_RUNS_COLLECTION = 'scrape_runs';

/** Failures kept in the run's document; the run's result (the CLI's --json, the Lambda's reply) has all. */
export const RECORDED_FAILURES = 10;

/** How long recording a run may take: the run is done, its documents are stored; a stuck write must not hold it. */
export const RECORD_TIMEOUT_MS = 5_000;

export interface ScrapeRunDocument {
  _id: string;
  source: ScrapeInput['source'];
  /** Yelp: the cities searched; HN: how many ids, from which to which. */
  target: { cities: string[]; limit: number } | { ids: number; first: number; last: number };
  startedAt: Date;
  endedAt: Date;
  wallMs: number;
  fetched: number;
  upserted: number;
  modified: number;
  unchanged: number;
  failed: number;
  failures: Array<{ id: string; reason: string }>;
  left: number;
  requests: number;
  retries: number;
  stoppedEarly?: { kind: string; reason: string };
}

export interface ScrapeRunLog {
  record(run: ScrapeRunDocument): Promise<void>;
}

function runs(db: Db): Collection<ScrapeRunDocument> {
  return db.collection<ScrapeRunDocument>(SCRAPE_RUNS_COLLECTION, { writeConcern: SCRAPE_WRITE_CONCERN });
}

export function createScrapeRunLog(db: Db): ScrapeRunLog {
  const collection = runs(db);
  return {
    record: async (run) => {
      await collection.replaceOne({ _id: run._id }, run, { upsert: true });
    },
  };
}

/** The latest `limit` runs, newest first. */
export async function latestScrapeRuns(db: Db, limit: number): Promise<ScrapeRunDocument[]> {
  return runs(db).find({}).sort({ startedAt: -1, _id: 1 }).limit(limit).toArray();
}

export function runTarget(input: ScrapeInput): ScrapeRunDocument['target'] {
  if (input.source === 'yelp') return { cities: input.cities, limit: input.limit };
  const first = input.ids.reduce((a, b) => Math.min(a, b));
  const last = input.ids.reduce((a, b) => Math.max(a, b));
  return { ids: input.ids.length, first, last };
}

/**
 * Records a finished run; answers why it could not (the run's documents are stored either way, so this never
 * throws: the caller puts the reason in the run's result). Waits at most RECORD_TIMEOUT_MS, and not past
 * `deadlineAt`, as the driver cannot be told to give up on a write.
 */
export async function recordScrapeRun(
  log: ScrapeRunLog,
  run: { runId: string; input: ScrapeInput; startedAt: Date; result: ScrapeResult; deadlineAt?: number },
): Promise<string | undefined> {
  const { result } = run;
  const document: ScrapeRunDocument = {
    _id: run.runId,
    source: result.source,
    target: runTarget(run.input),
    startedAt: run.startedAt,
    endedAt: new Date(run.startedAt.getTime() + result.wallMs),
    wallMs: result.wallMs,
    fetched: result.fetched,
    upserted: result.upserted,
    modified: result.modified,
    unchanged: result.unchanged,
    failed: result.failed.length,
    failures: result.failed.slice(0, RECORDED_FAILURES),
    left: result.left.length,
    requests: result.requests,
    retries: result.retries,
    ...(result.stoppedEarly ? { stoppedEarly: result.stoppedEarly } : {}),
  };
  const waitMs = Math.max(0, Math.min(RECORD_TIMEOUT_MS, (run.deadlineAt ?? Infinity) - Date.now()));
  const writing = log.record(document);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer from MongoDB within ${(waitMs / 1000).toFixed(1)} s`), waitMs);
  });
  try {
    const reason = await Promise.race([
      writing.then(
        () => undefined,
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      ),
      timeout,
    ]);
    return reason === undefined
      ? undefined
      : `the run could not be recorded in ${SCRAPE_RUNS_COLLECTION} (${reason}); its documents are stored`;
  } finally {
    clearTimeout(timer);
  }
}
