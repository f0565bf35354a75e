/**
 * Bad input for the scrape function (issue 7): the real handler in process, with the API fixture standing in for
 * Yelp/HN and the MongoDB-wire server for MongoDB. Every invalid input is answered with INVALID_INPUT before a single
 * request or write (the fixture's request count and the collections do not move); city names with unicode or URL
 * syntax are sent URL-encoded and come back as the fixture's LOCATION_NOT_FOUND for that exact name.
 */
import type { Context } from 'aws-lambda';
import { MongoClient } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startApiFixture, type RunningApiFixture } from '../../../local-stack/api-fixture/index.ts';
import { startMongoServer, type RunningMongoServer } from '../../../local-stack/mongo/server.ts';
import { expectNoStackTrace, lambdaContext, quietObservability } from '../../support/bad-input.ts';

type HandlerModule = typeof import('../../../functions/scrape.ts');
const DB = 'bad_input_scrape';

let api: RunningApiFixture;
let mongo: RunningMongoServer;
let client: MongoClient;
let scrape: HandlerModule;
const context: Context = lambdaContext('cloud-parallel-test-scrape');

beforeAll(async () => {
  api = await startApiFixture({ port: 0, silent: true });
  mongo = await startMongoServer({ port: 0, silent: true });
  client = await new MongoClient(mongo.uri).connect();
  quietObservability();
  vi.stubEnv('MONGODB_URI', mongo.uri);
  vi.stubEnv('MONGODB_DB', DB);
  vi.stubEnv('YELP_API_KEY', api.apiKey);
  vi.stubEnv('YELP_API_BASE_URL', api.yelpBaseUrl);
  vi.stubEnv('HN_API_BASE_URL', api.hnBaseUrl);
  vi.stubEnv('SCRAPE_CONCURRENCY', '8');
  // The handler reads its configuration when the module loads, as a Lambda container does.
  scrape = await import('../../../functions/scrape.ts');
});

afterEach(() => {
  vi.restoreAllMocks();
});

afterAll(async () => {
  await scrape?.closeConnections();
  vi.unstubAllEnvs();
  await client?.close();
  await mongo?.close();
  await api?.close();
});

async function documents(): Promise<number> {
  const db = client.db(DB);
  return (await db.collection('businesses').countDocuments()) + (await db.collection('hn_items').countDocuments());
}

const cities = (n: number) => Array.from({ length: n }, (_, i) => `City ${i}, TX`);

describe('invalid input: INVALID_INPUT, no request and no write', () => {
  it.each<[string, unknown, RegExp]>([
    // Wrong shapes
    ['null', null, /^input: source must be "yelp" or "hn"$/],
    ['a string that is not JSON', 'yelp: Austin', /^input: source must be "yelp" or "hn"$/],
    ['an array', [{ source: 'hn', ids: [1] }], /^input: source must be "yelp" or "hn"$/],
    ['a number', 7, /^input: source must be "yelp" or "hn"$/],
    ['no input at all', undefined, /source must be "yelp" or "hn"$/],
    ['an empty object', {}, /^source must be "yelp" or "hn"$/],
    ['no source', { cities: ['Austin, TX'] }, /^source must be "yelp" or "hn"$/],
    ['an unknown source', { source: 'google', cities: ['Austin, TX'] }, /^source must be "yelp" or "hn"$/],
    ['a source in capitals', { source: 'YELP', cities: ['Austin, TX'] }, /^source must be "yelp" or "hn"$/],
    ['a JSON string with an empty city list', '{"source":"yelp","cities":[]}', /^cities must name at least one city$/],
    // City lists
    ['an empty city list', { source: 'yelp', cities: [] }, /^cities must name at least one city$/],
    ['101 cities', { source: 'yelp', cities: cities(101) }, /^cities must name at most 100 cities$/],
    ['10,000 cities', { source: 'yelp', cities: cities(10_000) }, /^cities must name at most 100 cities$/],
    ['cities as one string', { source: 'yelp', cities: 'Austin, TX' }, /^cities must be a list of city names$/],
    [
      'a blank city',
      { source: 'yelp', cities: ['Austin, TX', '   '] },
      /^cities\.1: each city must be a non-empty name such as "Austin, TX"$/,
    ],
    [
      'a city that is a number',
      { source: 'yelp', cities: [78701] },
      /^cities\.0: each city must be a string such as "Austin, TX"$/,
    ],
    [
      'a 1 MB city name',
      { source: 'yelp', cities: ['x'.repeat(1024 * 1024)] },
      /^cities\.0: each city must be at most 256 characters$/,
    ],
    ['no cities for yelp', { source: 'yelp' }, /^cities must be a list of city names$/],
    // Limits
    [
      'limit 0',
      { source: 'yelp', cities: ['Austin, TX'], limit: 0 },
      /^limit must be at least 1 \(businesses per city\)$/,
    ],
    [
      'limit 1001',
      { source: 'yelp', cities: ['Austin, TX'], limit: 1001 },
      /^limit must be at most 1000 \(Yelp serves at most 1000 results per search\)$/,
    ],
    [
      'limit "20"',
      { source: 'yelp', cities: ['Austin, TX'], limit: '20' },
      /^limit: .*expected number, received string$/,
    ],
    ['limit 2.5', { source: 'yelp', cities: ['Austin, TX'], limit: 2.5 }, /^limit must be a whole number$/],
    ['concurrency 0', { source: 'hn', ids: [1], concurrency: 0 }, /^concurrency must be at least 1$/],
    ['concurrency 10^6', { source: 'hn', ids: [1], concurrency: 1e6 }, /^concurrency must be at most 64$/],
    // HN ids
    [
      'ids "0-5"',
      { source: 'hn', ids: '0-5' },
      /^ids range "0-5" must go from a positive id up to one at least as large$/,
    ],
    [
      'ids "5-1"',
      { source: 'hn', ids: '5-1' },
      /^ids range "5-1" must go from a positive id up to one at least as large$/,
    ],
    [
      '10,001 ids',
      { source: 'hn', ids: Array.from({ length: 10_001 }, (_, i) => i + 1) },
      /^ids must list at most 10000 ids per run$/,
    ],
    ['ids "1-10001"', { source: 'hn', ids: '1-10001' }, /^ids range "1-10001" has 10001 ids; at most 10000 per run$/],
    [
      'ids "1-10^23"',
      { source: 'hn', ids: '1-99999999999999999999999' },
      /^ids range "1-99999999999999999999999" has 1e\+23 ids; at most 10000 per run$/,
    ],
    ['no ids', { source: 'hn', ids: [] }, /^ids must list at least one item id$/],
    ['ids "abc"', { source: 'hn', ids: 'abc' }, /^ids must be a list of positive item ids or a range such as "1-20"$/],
    ['id 0', { source: 'hn', ids: [0] }, /^ids\.0: ids must be positive$/],
    ['id 1.5', { source: 'hn', ids: [1.5] }, /^ids\.0: ids must be whole numbers$/],
    ['id "7"', { source: 'hn', ids: ['7'] }, /^ids\.0: ids must be a list of positive item ids/],
    // Extra fields
    ['an extra field', { source: 'hn', ids: [1], extra: true }, /^input: Unrecognized key: "extra"$/],
    ['ids on a yelp input', { source: 'yelp', cities: ['Austin, TX'], ids: [1] }, /^input: Unrecognized key: "ids"$/],
    [
      'cities on an hn input',
      { source: 'hn', ids: [1], cities: ['Austin, TX'] },
      /^input: Unrecognized key: "cities"$/,
    ],
    ['a unicode key', { source: 'hn', ids: [1], 'clé-é漢': 1 }, /^input: Unrecognized key: "clé-é漢"$/],
    // EventBridge envelopes
    [
      'an envelope with an empty detail',
      { version: '0', 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} },
      /^EventBridge "Scheduled Event" event: its detail is not a valid input \(a schedule with a constant input passes that input as the event itself\): source must be "yelp" or "hn"$/,
    ],
    [
      'an envelope with a bad detail',
      { version: '0', 'detail-type': 'Scheduled Event', source: 'aws.events', detail: { source: 'hn', ids: '5-1' } },
      /^EventBridge "Scheduled Event" event: .*: ids range "5-1"/,
    ],
  ])('%s', async (_label, event, message) => {
    const requests = api.stats().requests;
    const written = await documents();
    const reply = await scrape.handler(event, context);
    expect(reply).toEqual({ error: { code: 'INVALID_INPUT', message: expect.stringMatching(message) } });
    expectNoStackTrace(reply);
    expect(api.stats().requests).toBe(requests);
    expect(await documents()).toBe(written);
  });
});

describe('city names are sent URL-encoded, and an unknown one is reported as LOCATION_NOT_FOUND', () => {
  it.each([
    ['unicode', 'Zürich 漢字 é'],
    ['URL syntax', 'Austin+TX & more?=#/%20'],
    ['a right-to-left name', 'القاهرة'],
  ])('%s: %s', async (_label, city) => {
    const fetched: string[] = [];
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      fetched.push(String(input instanceof Request ? input.url : input));
      return realFetch(input, init);
    });
    const written = await documents();
    const reply = await scrape.handler({ source: 'yelp', cities: [city], limit: 3 }, context);
    expect(reply).toMatchObject({
      source: 'yelp',
      fetched: 0,
      upserted: 0,
      failed: [
        { id: `city:${city}`, reason: expect.stringMatching(/^search at offset 0: HTTP 400: LOCATION_NOT_FOUND: /) },
      ],
      left: [],
    });
    expectNoStackTrace(reply);
    expect(await documents()).toBe(written);
    // One search, for exactly this name: encoded on the wire (ASCII only), decoded back to the same string.
    expect(fetched).toHaveLength(1);
    expect(fetched[0]).toMatch(/^[\x21-\x7e]+$/);
    expect(new URL(fetched[0]!).searchParams.get('location')).toBe(city);
  });

  it('control: a name with spaces and a comma the fixture knows is found', async () => {
    const reply = await scrape.handler({ source: 'yelp', cities: ['  san francisco,   ca '], limit: 2 }, context);
    expect(reply).toMatchObject({ source: 'yelp', fetched: 2, failed: [] });
  });
});
