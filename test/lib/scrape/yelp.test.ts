/**
 * The Yelp scrape end to end against real local components: the Yelp-shaped API fixture over HTTP (with its
 * seeded faults) and the MongoDB-wire server through the real `mongodb` driver. Every test gets its own
 * database; fixtures are per test so fault settings and stats never leak between tests.
 */
import type { Db } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { FIXTURE_CITIES, type RunningApiFixture } from '../../../local-stack/api-fixture/index.ts';
import { UserError } from '../../../lib/errors.ts';
import {
  createScrapeStore,
  runScrape,
  type ScrapeDeps,
  type ScrapeDocument,
  type ScrapeProgress,
} from '../../../lib/scrape/index.ts';
import { createRequestPool } from '../../../lib/scrape/http.ts';
import { searchYelpCity, yelpBusinessSchema } from '../../../lib/scrape/yelp.ts';
import { useLocalMongo, withFixture, FAST_POOL } from '../../support/scrape.ts';

const SEED_CITIES = ['San Francisco, CA', 'New York, NY', 'Chicago, IL', 'Austin, TX'];
const SEED_INPUT = { source: 'yelp', cities: SEED_CITIES, limit: 20 } as const;

const { freshDb } = useLocalMongo('scrape_yelp');

/** One scrape of `input` against the fixture into a fresh database. */
async function scrapeInto(
  fixture: RunningApiFixture,
  input: Parameters<typeof runScrape>[0],
  extra: Partial<ScrapeDeps> = {},
) {
  const db = freshDb();
  return { db, result: await runScrape(input, depsFor(fixture, db, extra)) };
}

function depsFor(fixture: RunningApiFixture, db: Db, extra: Partial<ScrapeDeps> = {}): ScrapeDeps {
  return {
    store: createScrapeStore(db, { collection: 'businesses' }),
    yelpBaseUrl: fixture.yelpBaseUrl,
    yelpApiKey: fixture.apiKey,
    yelpApiKeySource: 'the environment variable YELP_API_KEY',
    pool: FAST_POOL,
    ...extra,
  };
}

const documents = (db: Db) => db.collection<ScrapeDocument>('businesses');

async function firstBusinessIds(fixture: RunningApiFixture, city: string, count: number): Promise<string[]> {
  const url = `${fixture.yelpBaseUrl}/businesses/search?${new URLSearchParams({ location: city, limit: String(count) })}`;
  const response = await fetch(url, { headers: { authorization: `Bearer ${fixture.apiKey}` } });
  const body = (await response.json()) as { businesses: Array<{ id: string }> };
  return body.businesses.map((business) => business.id);
}

describe('Yelp scrape', () => {
  it('stores 4 cities × 20 businesses once; re-runs report them unchanged, then count real changes as modified', async () => {
    expect(FIXTURE_CITIES).toEqual(expect.arrayContaining(SEED_CITIES));
    await withFixture({}, async (fixture) => {
      const db = freshDb();
      const progress: ScrapeProgress[] = [];
      const first = await runScrape(SEED_INPUT, depsFor(fixture, db, { onProgress: (event) => progress.push(event) }));
      expect(first).toMatchObject({
        source: 'yelp',
        fetched: 80,
        upserted: 80,
        modified: 0,
        unchanged: 0,
        failed: [],
        left: [],
        retries: 0,
      });
      expect(first.stoppedEarly).toBeUndefined();
      expect(first.requests).toBe(84); // 4 searches + 80 details
      expect(await documents(db).countDocuments()).toBe(80);
      expect(progress).toContainEqual({ phase: 'search', done: 4, total: 4 });
      expect(progress.filter((event) => event.phase === 'details').at(-1)).toEqual({
        phase: 'details',
        done: 80,
        total: 80,
      });
      expect(progress.filter((event) => event.phase === 'write').at(-1)).toEqual({
        phase: 'write',
        done: 80,
        total: 80,
      });

      const stored = await documents(db).find().toArray();
      for (const document of stored) {
        expect(document._id).toBe(`yelp:${document.sourceId}`);
        expect(document.source).toBe('yelp');
        expect(document.data.id).toBe(document.sourceId);
        expect(yelpBusinessSchema.safeParse(document.data).success).toBe(true);
        expect(document.firstSeenAt).toBeInstanceOf(Date);
        expect(document.updatedAt).toEqual(document.firstSeenAt);
      }

      const second = await runScrape(SEED_INPUT, depsFor(fixture, db));
      expect(second).toMatchObject({ fetched: 80, upserted: 0, modified: 0, unchanged: 80, failed: [], left: [] });
      expect(await documents(db).countDocuments()).toBe(80);

      // Five records change at the source (simulated by editing what we stored): the next run rewrites exactly those.
      const changed = stored.slice(0, 5).map((document) => document._id);
      await documents(db).updateMany({ _id: { $in: changed } }, { $set: { 'data.rating': 0.5 } });
      const third = await runScrape(SEED_INPUT, depsFor(fixture, db));
      expect(third).toMatchObject({ fetched: 80, upserted: 0, modified: 5, unchanged: 75, failed: [] });
      const after = await documents(db)
        .find({ _id: { $in: changed } })
        .toArray();
      for (const document of after) {
        const before = stored.find((old) => old._id === document._id);
        expect(document.data.rating).not.toBe(0.5);
        expect(document.firstSeenAt).toEqual(before?.firstSeenAt);
        expect(document.updatedAt.getTime()).toBeGreaterThan(document.firstSeenAt.getTime());
      }
      const untouched = await documents(db).findOne({ _id: { $nin: changed } });
      expect(untouched?.updatedAt).toEqual(untouched?.firstSeenAt);
    });
  });

  it('loses and duplicates nothing under 20% server errors and a 429 every 7th request', async () => {
    await withFixture(
      { faults: { serverErrorRate: 0.2, rateLimitEvery: 7, retryAfterSeconds: 1 } },
      async (fixture) => {
        const { db, result } = await scrapeInto(fixture, SEED_INPUT, { pool: { ...FAST_POOL, retries: 8 } });
        expect(result).toMatchObject({ fetched: 80, upserted: 80, failed: [], left: [] });
        expect(result.retries).toBeGreaterThan(0);
        const ids = await documents(db).distinct('sourceId');
        expect(ids).toHaveLength(80);
        expect(await documents(db).countDocuments()).toBe(80);
        const stats = fixture.stats();
        expect(stats.byStatus['429']).toBeGreaterThan(0);
        // Few 429s relative to the requests, and each one retried into success. (That the pool really pauses
        // on a 429 is shown with a scripted server in http.test.ts.)
        expect(stats.byStatus['429'] ?? 0).toBeLessThanOrEqual(Math.ceil(stats.requests / 7));
        expect(result.requests).toBe(stats.requests);
      },
    );
  });

  it('stops at once on a rejected key, names where the key came from, and reports the searches left', async () => {
    await withFixture({ apiKey: 'the-real-key' }, async (fixture) => {
      const db = freshDb();
      const concurrency = 2;
      const result = await runScrape(
        { ...SEED_INPUT, concurrency },
        depsFor(fixture, db, { yelpApiKey: 'a-wrong-key' }),
      );
      expect(result.stoppedEarly?.kind).toBe('auth');
      expect(result.stoppedEarly?.reason).toMatch(
        /Yelp rejected the API key from the environment variable YELP_API_KEY/,
      );
      expect(result.stoppedEarly?.reason).toMatch(/TOKEN_INVALID/);
      expect(result.fetched).toBe(0);
      expect([...result.left].sort()).toEqual(SEED_CITIES.map((city) => `city:${city}`).sort());
      expect(result.failed).toEqual([]);
      expect(fixture.stats().requests).toBeLessThanOrEqual(concurrency + 1);
      expect(fixture.stats().byStatus['401']).toBeGreaterThan(0);
      expect(await documents(db).countDocuments()).toBe(0);
    });
  });

  it("records an unknown city with the API's LOCATION_NOT_FOUND and still stores the others", async () => {
    await withFixture({}, async (fixture) => {
      const { db, result } = await scrapeInto(fixture, {
        source: 'yelp',
        cities: ['Atlantis', 'Austin, TX'],
        limit: 5,
      });
      expect(result.fetched).toBe(5);
      expect(result.failed).toEqual([
        { id: 'city:Atlantis', reason: expect.stringMatching(/HTTP 400: LOCATION_NOT_FOUND/) },
      ]);
      expect(fixture.stats().byStatus['400']).toBe(1); // a 4xx is not retried
      expect(await documents(db).countDocuments()).toBe(5);
    });
  });

  it('pages past 50 and deduplicates ids across cities ("Austin" and "Austin, TX" are the same city)', async () => {
    await withFixture({}, async (fixture) => {
      const { db, result } = await scrapeInto(fixture, {
        source: 'yelp',
        cities: ['Austin, TX', 'austin'],
        limit: 120,
      });
      expect(result).toMatchObject({ fetched: 120, upserted: 120, failed: [], left: [] });
      expect(fixture.stats().byPath['/v3/businesses/search']).toBe(6); // 3 pages per spelling of the city
      const expected = await firstBusinessIds(fixture, 'Austin, TX', 50);
      const stored = new Set(await documents(db).distinct('sourceId'));
      expect(expected.every((id) => stored.has(id))).toBe(true);
    });
  });

  it("stops paging at Yelp's cap of 1000 results (New York has 1200)", async () => {
    await withFixture({}, async (fixture) => {
      const pool = createRequestPool({ concurrency: 8, ...FAST_POOL });
      const search = await searchYelpCity(
        pool,
        { baseUrl: fixture.yelpBaseUrl, apiKey: fixture.apiKey },
        'New York, NY',
        1000,
      );
      expect(search.ids).toHaveLength(1000);
      expect(new Set(search.ids).size).toBe(1000);
      expect(search.failed).toEqual([]);
      expect(fixture.stats().byStatus).toEqual({ '200': 20 }); // never an offset + limit past 1000 (a 400)
      pool.close();
    });
  });

  it('reports malformed and schema-violating records as failed and never stores them', async () => {
    await withFixture({}, async (fixture) => {
      const broken = (await firstBusinessIds(fixture, 'Chicago, IL', 20)).slice(0, 2);
      fixture.setFaults({ malformedIds: broken });
      const { db, result } = await scrapeInto(fixture, SEED_INPUT);
      expect(result.fetched).toBe(78);
      expect(result.failed.map((failure) => failure.id).sort()).toEqual([...broken].sort());
      for (const failure of result.failed) expect(failure.reason).toMatch(/HTTP 200 with .*(not JSON|empty body)/);
      expect(result.retries).toBeGreaterThanOrEqual(2 * FAST_POOL.retries); // a truncated body is worth retrying
      expect(await documents(db).countDocuments({ sourceId: { $in: broken } })).toBe(0);
      expect(await documents(db).countDocuments()).toBe(78);
    });

    await withFixture({ faults: { invalidRecordRate: 0.25 } }, async (fixture) => {
      const { db, result } = await scrapeInto(fixture, SEED_INPUT);
      const invalid = result.failed.filter((failure) => /invalid/.test(failure.reason));
      expect(invalid.length).toBeGreaterThan(0);
      expect(result.left).toEqual([]);
      const stored = await documents(db).find().toArray();
      expect(stored).toHaveLength(result.fetched);
      for (const document of stored) expect(yelpBusinessSchema.safeParse(document.data).success).toBe(true);
      const failedIds = new Set(result.failed.map((failure) => failure.id));
      for (const document of stored) expect(failedIds.has(document.sourceId)).toBe(false);
    });
  });

  it('retries requests slower than the timeout, and reports the ones that never answer in time', async () => {
    await withFixture({ faults: { slowRate: 0.15, slowMs: 2000 } }, async (fixture) => {
      const { db, result } = await scrapeInto(fixture, SEED_INPUT, { pool: { ...FAST_POOL, timeoutMs: 250 } });
      expect(result.retries).toBeGreaterThan(0); // the client gave up on the slow answers and asked again
      for (const failure of result.failed) expect(failure.reason).toMatch(/no complete answer within 250 ms/);
      expect(result.fetched + result.failed.length).toBe(80);
      expect(await documents(db).countDocuments()).toBe(result.fetched);
    });
  });

  it('stops at the deadline, keeps what it fetched, and lists the rest as left', async () => {
    // 84 requests of 100 ms, two at a time, take about 4 s: a deadline 1.5 s out falls well inside the run.
    await withFixture({ latencyMs: 100 }, async (fixture) => {
      const { db, result } = await scrapeInto(
        fixture,
        { ...SEED_INPUT, concurrency: 2 },
        { deadlineAt: Date.now() + 1500 },
      );
      expect(result.stoppedEarly?.kind).toBe('deadline');
      expect(result.left.length).toBeGreaterThan(0);
      expect(result.fetched).toBeGreaterThan(0);
      expect(await documents(db).countDocuments()).toBe(result.fetched);
      // Every business is stored, failed, or left; a search cut short is left as its city.
      const businessesLeft = result.left.filter((id) => !id.startsWith('city:'));
      const citiesLeft = result.left.length - businessesLeft.length;
      expect(result.fetched + businessesLeft.length + result.failed.length + 20 * citiesLeft).toBe(80);
      const stored = new Set(await documents(db).distinct('sourceId'));
      for (const id of businessesLeft) expect(stored.has(id)).toBe(false);
    });
  });

  it('keeps to its concurrency bound', async () => {
    await withFixture({ latencyMs: 50 }, async (fixture) => {
      const result = await runScrape({ ...SEED_INPUT, concurrency: 5 }, depsFor(fixture, freshDb()));
      expect(result.fetched).toBe(80);
      expect(fixture.stats().maxConcurrent).toBeLessThanOrEqual(5);
      expect(fixture.stats().maxConcurrent).toBeGreaterThan(1);
    });
  });

  it('refuses bad input with a code and a message, before any request', async () => {
    await withFixture({}, async (fixture) => {
      const deps = depsFor(fixture, freshDb());
      const cases: Array<[input: unknown, message: RegExp]> = [
        [{ source: 'yelp', cities: [] }, /at least one city/],
        [{ source: 'yelp', cities: ['Austin, TX', '  '] }, /cities\.1.*non-empty/],
        [{ source: 'yelp', cities: ['Austin, TX', 42] }, /cities\.1.*string/],
        [{ source: 'yelp', cities: 'Austin, TX' }, /cities must be a list/],
        [{ source: 'yelp', cities: ['Austin, TX'], limit: 0 }, /limit must be at least 1/],
        [{ source: 'yelp', cities: ['Austin, TX'], limit: 1001 }, /limit must be at most 1000/],
        [{ source: 'yelp', cities: ['Austin, TX'], concurrency: 0 }, /concurrency must be at least 1/],
        [{ source: 'yelp', cities: ['Austin, TX'], concurrency: 65 }, /concurrency must be at most 64/],
        [{ source: 'yelp', cities: ['Austin, TX'], city: 'Boston' }, /city/],
        [{ source: 'google', cities: ['Austin, TX'] }, /source must be "yelp" or "hn"/],
        [null, /source must be "yelp" or "hn"|expected object/],
      ];
      for (const [input, message] of cases) {
        const error = await runScrape(input, deps).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error, JSON.stringify(input)).toBeInstanceOf(UserError);
        expect((error as UserError).code).toBe('INVALID_INPUT');
        expect((error as UserError).message, JSON.stringify(input)).toMatch(message);
      }
      const { yelpApiKey: _unused, ...withoutKey } = deps;
      await expect(runScrape(SEED_INPUT, withoutKey)).rejects.toMatchObject({
        code: 'MISSING_API_KEY',
        message: expect.stringMatching(/YELP_API_KEY/),
      });
      expect(fixture.stats().requests).toBe(0);
    });
  });
});
