/**
 * The scrape run log: each run's outcome as one document in `scrape_runs`, written through the real driver to the
 * MongoDB-wire server, once per run id however often it is recorded.
 */
import { describe, expect, it } from 'vitest';
import {
  createScrapeRunLog,
  createScrapeStore,
  latestScrapeRuns,
  runScrape,
  SCRAPE_RUNS_COLLECTION,
  type ScrapeDeps,
  type ScrapeRunDocument,
} from '../../../lib/scrape/index.ts';
import { FAST_POOL, useLocalMongo, withFixture } from '../../support/scrape.ts';

const { freshDb } = useLocalMongo('scrape_runlog');

describe('scrape run log', () => {
  it('records a run’s counts under its id; the same id recorded again stays one document', async () => {
    await withFixture({}, async (fixture) => {
      const db = freshDb();
      const deps = (runId: string): ScrapeDeps => ({
        store: createScrapeStore(db, { collection: 'hn_items' }),
        hnBaseUrl: fixture.hnBaseUrl,
        pool: FAST_POOL,
        runLog: { log: createScrapeRunLog(db), runId },
      });
      const first = await runScrape({ source: 'hn', ids: '3-7' }, deps('run-a'));
      expect(first.runLogError).toBeUndefined();
      const again = await runScrape({ source: 'hn', ids: '3-7' }, deps('run-a'));
      expect(again).toMatchObject({ upserted: 0, unchanged: 5 });
      expect(await db.collection(SCRAPE_RUNS_COLLECTION).countDocuments()).toBe(1);
      const [recorded] = await latestScrapeRuns(db, 10);
      // The second run replaced the first's record: its counts, not the first's.
      expect(recorded).toMatchObject({
        _id: 'run-a',
        source: 'hn',
        target: { ids: 5, first: 3, last: 7 },
        fetched: 5,
        upserted: 0,
        modified: 0,
        unchanged: 5,
        failed: 0,
        left: 0,
      } satisfies Partial<ScrapeRunDocument>);
      expect(recorded!.endedAt.getTime()).toBeGreaterThanOrEqual(recorded!.startedAt.getTime());

      await new Promise((resolve) => setTimeout(resolve, 5));
      await runScrape({ source: 'hn', ids: [1] }, deps('run-b'));
      expect((await latestScrapeRuns(db, 10)).map((run) => run._id)).toEqual(['run-b', 'run-a']);
      expect((await latestScrapeRuns(db, 1)).map((run) => run._id)).toEqual(['run-b']);
    });
  });

  it('a run whose record cannot be written says so and keeps its outcome', async () => {
    await withFixture({}, async (fixture) => {
      const db = freshDb();
      const result = await runScrape(
        { source: 'hn', ids: [1, 2] },
        {
          store: createScrapeStore(db, { collection: 'hn_items' }),
          hnBaseUrl: fixture.hnBaseUrl,
          pool: FAST_POOL,
          runLog: { log: { record: () => Promise.reject(new Error('not authorized')) }, runId: 'x' },
        },
      );
      expect(result).toMatchObject({ fetched: 2, upserted: 2 });
      expect(result.runLogError).toBe(
        'the run could not be recorded in scrape_runs (not authorized); its documents are stored',
      );
    });
  });
});
