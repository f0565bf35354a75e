/**
 * The Hacker News scrape end to end: the Algolia-shaped items API of the local fixture and the MongoDB-wire
 * server through the real driver.
 */
import type { Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import type { RunningApiFixture } from '../../../local-stack/api-fixture/index.ts';
import { UserError } from '../../../lib/errors.ts';
import {
  createScrapeStore,
  parseScrapeInput,
  runScrape,
  type ScrapeDeps,
  type ScrapeDocument,
  type ScrapeProgress,
} from '../../../lib/scrape/index.ts';
import { FAST_POOL as SUITE_POOL, useLocalMongo, withFixture } from '../../support/scrape.ts';

/** Three retries: the request counts asserted below follow from it. */
const FAST_POOL = { ...SUITE_POOL, retries: 3 };

const { freshDb } = useLocalMongo('scrape_hn');

function depsFor(fixture: RunningApiFixture, db: Db, extra: Partial<ScrapeDeps> = {}): ScrapeDeps {
  return {
    store: createScrapeStore(db, { collection: 'hn_items' }),
    hnBaseUrl: fixture.hnBaseUrl,
    pool: FAST_POOL,
    ...extra,
  };
}

const items = (db: Db) => db.collection<ScrapeDocument>('hn_items');

describe('Hacker News scrape', () => {
  it('stores items 1-20 with their direct replies as kids, and re-runs change nothing', async () => {
    await withFixture({}, async (fixture) => {
      const db = freshDb();
      const first = await runScrape({ source: 'hn', ids: '1-20' }, depsFor(fixture, db));
      expect(first).toMatchObject({
        source: 'hn',
        fetched: 20,
        upserted: 20,
        modified: 0,
        unchanged: 0,
        failed: [],
        left: [],
        requests: 20,
      });
      const one = await items(db).findOne({ _id: 'hn:1' });
      expect(one).toMatchObject({
        source: 'hn',
        sourceId: '1',
        data: { id: 1, type: expect.any(String), created_at: expect.any(String) },
      });
      expect(one?.data).not.toHaveProperty('children');
      const stored = await items(db).find().toArray();
      // Every reply stored here names its parent, and the parent lists it among its kids.
      for (const item of stored) {
        const parentId = item.data.parent_id;
        const parent = stored.find((candidate) => candidate.data.id === parentId);
        if (parent) expect(parent.data.kids).toContain(item.data.id);
      }

      const second = await runScrape(
        { source: 'hn', ids: Array.from({ length: 20 }, (_, index) => index + 1) },
        depsFor(fixture, db),
      );
      expect(second).toMatchObject({ fetched: 20, upserted: 0, modified: 0, unchanged: 20, failed: [] });
      expect(await items(db).countDocuments()).toBe(20);
    });
  });

  it('records a missing item (404) as failed without retrying it', async () => {
    await withFixture({}, async (fixture) => {
      const db = freshDb();
      const result = await runScrape({ source: 'hn', ids: [1, 999_999_999, 2] }, depsFor(fixture, db));
      expect(result.fetched).toBe(2);
      expect(result.failed).toEqual([{ id: '999999999', reason: 'HTTP 404: Not Found' }]);
      expect(result.retries).toBe(0);
      expect(fixture.stats().byStatus['404']).toBe(1);
      expect(await items(db).distinct('sourceId')).toEqual(expect.arrayContaining(['1', '2']));
      expect(await items(db).countDocuments()).toBe(2);
    });
  });

  it('reports malformed bodies and schema-violating items as failed, never half-stored', async () => {
    await withFixture({ faults: { malformedIds: ['3'] } }, async (fixture) => {
      const db = freshDb();
      const result = await runScrape({ source: 'hn', ids: '1-5' }, depsFor(fixture, db));
      expect(result.failed).toEqual([{ id: '3', reason: expect.stringMatching(/^HTTP 200 with /) }]);
      expect(result.retries).toBe(FAST_POOL.retries);
      expect(await items(db).countDocuments({ sourceId: '3' })).toBe(0);
      expect(await items(db).countDocuments()).toBe(4);
    });

    await withFixture({ faults: { invalidRecordRate: 0.3 } }, async (fixture) => {
      const db = freshDb();
      const result = await runScrape({ source: 'hn', ids: '1-40' }, depsFor(fixture, db));
      expect(result.failed.length).toBeGreaterThan(0);
      for (const failure of result.failed) expect(failure.reason).toMatch(/^invalid record: /);
      expect(result.fetched + result.failed.length).toBe(40);
      const stored = await items(db).find().toArray();
      expect(stored).toHaveLength(result.fetched);
      for (const item of stored) {
        expect(typeof item.data.created_at_i).toBe('number');
        expect(Array.isArray(item.data.kids)).toBe(true);
        expect(typeof item.data.type).toBe('string');
      }
    });
  });

  it('stops when its AbortSignal fires, keeping what it fetched and listing the rest', async () => {
    await withFixture({ latencyMs: 20 }, async (fixture) => {
      const db = freshDb();
      const controller = new AbortController();
      // Stopped from outside once a few items are in, as a Lambda deadline signal would.
      const onProgress = ({ phase, done }: ScrapeProgress): void => {
        if (phase === 'details' && done === 5) controller.abort(new Error('time is up'));
      };
      const result = await runScrape(
        { source: 'hn', ids: '1-60', concurrency: 2 },
        depsFor(fixture, db, { signal: controller.signal, onProgress }),
      );
      expect(result.stoppedEarly).toEqual({ kind: 'aborted', reason: 'the run was stopped: time is up' });
      expect(result.fetched).toBeGreaterThan(0);
      expect(result.left.length).toBeGreaterThan(0);
      expect(result.fetched + result.left.length + result.failed.length).toBe(60);
      expect(await items(db).countDocuments()).toBe(result.fetched);
    });
  });

  it('refuses ids that are not positive whole numbers, a reversed range, or too many', () => {
    const cases: Array<[ids: unknown, message: RegExp]> = [
      [[0], /ids\.0: ids must be positive/],
      [[1, -5], /ids\.1: ids must be positive/],
      [[1.5], /whole numbers/],
      [['7'], /list of positive item ids or a range/],
      ['20-1', /must go from a positive id up to one at least as large/],
      ['0-5', /must go from a positive id/],
      ['1-20000', /20000 ids; at most 10000/],
      ['abc', /list of positive item ids or a range/],
      [Array.from({ length: 10_001 }, (_, index) => index + 1), /at most 10000/],
      [[], /at least one item id/],
    ];
    for (const [ids, message] of cases) {
      let caught: unknown;
      try {
        parseScrapeInput({ source: 'hn', ids });
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(ids)).toBeInstanceOf(UserError);
      expect((caught as UserError).code).toBe('INVALID_INPUT');
      expect((caught as UserError).message, JSON.stringify(ids)).toMatch(message);
    }
    expect(parseScrapeInput({ source: 'hn', ids: ' 5 - 7 ' })).toEqual({ source: 'hn', ids: [5, 6, 7] });
    expect(parseScrapeInput({ source: 'hn', ids: [3, 3, 4] })).toEqual({ source: 'hn', ids: [3, 4] });
  });
});
