/**
 * The scrape Lambda handler invoked directly, configured through the environment exactly as deployed, with
 * the API fixture standing in for Yelp/HN and the MongoDB-wire server for MongoDB.
 */
import { readFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiFixture, type RunningApiFixture } from '../../local-stack/api-fixture/index.ts';
import { startMongoServer, type RunningMongoServer } from '../../local-stack/mongo/server.ts';

type HandlerModule = typeof import('../../functions/scrape.ts');

let api: RunningApiFixture;
let mongo: RunningMongoServer;
let client: MongoClient;
let scrape: HandlerModule;
const savedEnv = { ...process.env };

/** What the handler uses of a Lambda context; the rest of the interface is irrelevant here. */
const context = { getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

const seedEvent = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../../events/${name}`, import.meta.url), 'utf8'));

beforeAll(async () => {
  api = await startApiFixture({ port: 0, silent: true });
  mongo = await startMongoServer({ port: 0, silent: true });
  client = await new MongoClient(mongo.uri).connect();
  Object.assign(process.env, {
    MONGODB_URI: mongo.uri,
    MONGODB_DB: 'scrape_handler',
    YELP_API_KEY: api.apiKey,
    YELP_API_BASE_URL: api.yelpBaseUrl,
    HN_API_BASE_URL: api.hnBaseUrl,
    SCRAPE_CONCURRENCY: '8',
  });
  // The handler reads its configuration when the module loads, as a Lambda container does.
  scrape = await import('../../functions/scrape.ts');
});

afterAll(async () => {
  await scrape?.closeConnections();
  process.env = savedEnv;
  await client?.close();
  await mongo?.close();
  await api?.close();
});

describe('scrape handler', () => {
  it('runs the Yelp seed event into the businesses collection, and a re-run changes nothing', async () => {
    const first = await scrape.handler(seedEvent('scrape-yelp.json'), context);
    expect(first).toMatchObject({ source: 'yelp', fetched: 80, upserted: 80, failed: [], left: [] });
    const again = await scrape.handler(seedEvent('scrape-yelp.json'), context);
    expect(again).toMatchObject({ fetched: 80, upserted: 0, unchanged: 80 });
    expect(await client.db('scrape_handler').collection('businesses').countDocuments()).toBe(80);
  });

  it('takes the HN input from a scheduled rule (the event itself) or an EventBridge event (its detail)', async () => {
    const direct = await scrape.handler(seedEvent('scrape-hn.json'), context);
    expect(direct).toMatchObject({ source: 'hn', fetched: 20, upserted: 20, failed: [] });
    const wrapped = await scrape.handler(
      {
        version: '0',
        id: 'e1',
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        detail: { source: 'hn', ids: [21, 22] },
      },
      context,
    );
    expect(wrapped).toMatchObject({ source: 'hn', fetched: 2, upserted: 2 });
    expect(await client.db('scrape_handler').collection('hn_items').countDocuments()).toBe(22);
  });

  it('stops before the Lambda times out when little time is left', async () => {
    const almostOut = { getRemainingTimeInMillis: () => 5_000 } as unknown as Context;
    const result = await scrape.handler({ source: 'hn', ids: '100-110' }, almostOut);
    expect(result).toMatchObject({ fetched: 0, requests: 0, stoppedEarly: { kind: 'deadline' } });
    expect((result as { left: string[] }).left).toHaveLength(11);
  });

  it('answers bad input with an error object instead of throwing', async () => {
    expect(await scrape.handler({ source: 'yelp', cities: [] }, context)).toEqual({
      error: { code: 'INVALID_INPUT', message: 'cities must name at least one city' },
    });
    expect(await scrape.handler({ hello: 'world' }, context)).toMatchObject({ error: { code: 'INVALID_INPUT' } });
  });
});
