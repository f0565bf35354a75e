/**
 * The scraper through the real local stack: the scrape function under serverless-offline (invoked as
 * `sls invoke` would), the CLI, the API fixture and the MongoDB-wire server, read back with the real driver.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { splitCities } from '../../cli/args/scrape.ts';
import type { ScrapeResult } from '../../lib/scrape/index.ts';
import { PROJECT_ROOT } from '../../local-stack/service-config.ts';
import { runCli, slsInvokeLocal, useLocalStack } from '../support/stack.ts';

const stack = useLocalStack({
  s3: 29569,
  lambda: 29302,
  ec2: 29570,
  mongo: 29017,
  api: 29575,
  http: 29300,
  dashboard: 29580,
});

async function invokeScrape(payload: unknown): Promise<{ functionError?: string; body: unknown }> {
  const response = await new LambdaClient({}).send(
    new InvokeCommand({
      FunctionName: stack.state.service.functions.scrape,
      Payload: Buffer.from(JSON.stringify(payload)),
    }),
  );
  return { functionError: response.FunctionError, body: JSON.parse(Buffer.from(response.Payload!).toString()) };
}

async function countIn(db: string, collection: string, filter: Record<string, unknown> = {}): Promise<number> {
  const client = await new MongoClient(stack.state.mongoUri).connect();
  try {
    return await client.db(db).collection(collection).countDocuments(filter);
  } finally {
    await client.close();
  }
}

describe('the scraper on the local stack', () => {
  it('the scrape function (events/scrape-yelp.json) stores 4 cities × 20 businesses; a second invocation keeps 80', async () => {
    const event = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'events/scrape-yelp.json'), 'utf8'));
    const first = await invokeScrape(event);
    expect(first.functionError, JSON.stringify(first.body)).toBeUndefined();
    expect(first.body).toMatchObject({ source: 'yelp', fetched: 80, upserted: 80, failed: [], left: [] });
    const second = await invokeScrape(event);
    expect(second.body).toMatchObject({ fetched: 80, upserted: 0, modified: 0, unchanged: 80 });
    expect(await countIn('cloud_parallel', 'businesses')).toBe(80);
    // One document per business, keyed by source and id.
    expect(await countIn('cloud_parallel', 'businesses', { _id: { $regex: '^yelp:' } })).toBe(80);
  });

  it('answers bad input with an error object, not a crash', async () => {
    const { functionError, body } = await invokeScrape({ source: 'yelp', cities: [], limit: 2000 });
    expect(functionError).toBeUndefined();
    expect(body).toEqual({
      error: {
        code: 'INVALID_INPUT',
        message: expect.stringMatching(/cities must name at least one city.*limit must be at most 1000/s),
      },
    });
  });

  it('`cloud-parallel scrape --source hn --ids 1-20 --json` stores 20 items; bad flags are a clear error', async () => {
    const hnItems = ['scrape', '--source', 'hn', '--ids', '1-20'];
    const { stdout } = await runCli(stack, [...hnItems, '--concurrency', '8', '--json']);
    const result = JSON.parse(stdout) as ScrapeResult & { documents: number };
    expect(result).toMatchObject({ source: 'hn', fetched: 20, failed: [], documents: 20 });
    expect(await countIn('cloud_parallel', 'hn_items')).toBe(20);

    const failed = await runCli(stack, ['scrape', '--source', 'yelp', '--ids', '1-2', '--json']).catch(
      (error: { code: number; stdout: string }) => error,
    );
    expect(failed).toMatchObject({ code: 1 });
    expect(JSON.parse((failed as { stdout: string }).stdout).error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('--ids is for --source hn'),
    });
  });
});

describe('sls invoke local', () => {
  it('`sls invoke local -f scrape -p events/scrape-hn.json` stores HN items 1-20', async () => {
    const stdout = await slsInvokeLocal('scrape', 'events/scrape-hn.json');
    expect(JSON.parse(stdout.slice(stdout.indexOf('{')))).toMatchObject({ source: 'hn', fetched: 20, failed: [] });
  }, 120_000);
});

describe("splitCities (the CLI's --cities)", () => {
  it.each([
    ['San Francisco, CA, New York, NY', ['San Francisco, CA', 'New York, NY']],
    ['Austin; Chicago, IL ;', ['Austin', 'Chicago, IL']],
    ['Paris,London, Berlin', ['Paris', 'London', 'Berlin']],
    ['  ', []],
  ])('%j → %j', (text, cities) => {
    expect(splitCities(text)).toEqual(cities);
  });
});
